"""What ``infoshare serve`` runs besides answering: each job starts and stops with the server.

===============================  ================================================================
``bot/jobs/background.py``       :class:`~bot.jobs.background.BackgroundTask`: a task that starts
                                 with the aiohttp app and is cancelled when it stops
``bot/jobs/schedule.py``         ``[digest] schedule`` (``MON 09:00``, Europe/London): when next
``bot/jobs/digest_post.py``      the weekly digest, built once and posted through each channel
                                 (also ``infoshare digest --post``)
``bot/jobs/housekeeping.py``     once a day: delivery keys and unanswered questions past their time
===============================  ================================================================

Jobs reach the record through :mod:`dialogs.records`, never ``storage`` itself.
"""
