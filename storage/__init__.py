"""SQLite storage, behind the engine (``dialogs``); nothing here knows a channel.

- ``db``: opening the file with the settings every writer relies on, and the one locking rule.
- ``conversations``: each conversation's state and the delivery keys processed once.
- ``audit/``: the tamper-evident chain of decisions (``chain``), its check (``verify``) and
  retention (``retention``).
- ``gaps``: questions asked and not answered, for the content's owners.
- ``references``: where a lead or channel can be reached later (proactive messages).
- ``redact``: identifiers taken out of free text before it is stored.
- ``digest/``: the leads' digest: figures (``query``), Markdown and CSV (``render``), chart (``chart``).
"""
