"""Thin channel adapters (console, Slack, Teams), the server that carries them, its jobs, and the
command line.

A platform event comes into ``bot/<channel>``, becomes an :class:`~dialogs.events.Event`, goes
through one engine turn in ``dialogs/`` (:meth:`Engine.handle <dialogs.engine.Engine.handle>`:
state, answers, audit), and comes back as :class:`~dialogs.events.Reply` objects that
``bot/<channel>`` renders. Nothing in ``bot/`` decides what a user is told.

======================  ===========================================================================
:mod:`bot.slack`        Slack: the HTTP transport (signature, parse check), the Bolt app, Block Kit
:mod:`bot.teams`        Teams: the botbuilder adapter (its only importer), Adaptive Cards, the
                        settings, the app package (built without botbuilder)
:mod:`bot.console`      the terminal chat
:mod:`bot.server`       ``infoshare serve``: wiring only (routes, channels, jobs)
:mod:`bot.jobs`         the weekly digest's schedule and posting, housekeeping, background tasks
:mod:`bot.cli`          the ``infoshare`` command line, one module per command group
:mod:`bot.config`       ``infoshare.toml`` and the environment
======================  ===========================================================================

``bot/`` reaches the store only through the engine and :mod:`dialogs.records`, never ``storage``
itself; ``tests/test_layout.py`` checks that and the other rules of this layout.
"""
