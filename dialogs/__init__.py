"""Channel-agnostic conversation logic: one engine turn from an ``Event`` to ``Reply`` objects.

A platform event comes into ``bot/<channel>``, becomes an :class:`~dialogs.events.Event`, goes
through one turn of :class:`~dialogs.engine.Engine` here (state, walk, record, answers, audit)
and comes back as replies that ``bot/<channel>`` renders.

- ``events``: what an adapter hands in (``Event``) and gets back (``Reply``).
- ``text``: every piece of user text cleaned and capped once, before matching or storage.
- ``engine``: the turn: restore, dispatch, save, in one transaction; the walk's own steps.
- ``phases``: the conversation's phases as a ``transitions`` machine, and the events each takes.
- ``walk``: a pack's flow as a ``transitions`` machine (one per pack, many conversations).
- ``intents``: what typed words and requests mean (questions, topics, help, checklist, digest).
- ``record_form``: the record step, its checks, and leaving without recording.
- ``prompts``: what to show now (question, outcome and its contacts, field, summary).
- ``records``: the record and the digest for the command line and jobs, without storage details.
- ``language``: telling a question in Welsh.
- ``answers/``: the myth-busting answers (see its package docstring for the modules in order).
"""
