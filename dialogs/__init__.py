"""Channel-agnostic conversation logic: the decision walk, the record step and answers.

- ``events``: what an adapter hands in (``Event``) and gets back (``Reply``).
- ``text``: every piece of user text cleaned and capped once, before matching or storage.
- ``walk``: the pack's flow as a ``transitions`` machine.
- ``conversation``: the engine: one turn of state, walk, record and answers.
- ``language``: telling a question in Welsh.
- ``answers/``: the myth-busting answers (see its package docstring for the modules in order).
"""
