"""The store, behind the engine (``dialogs``): SQLite by default, PostgreSQL for several replicas;
nothing here knows a channel.

- ``db``: opening the store with the settings every writer relies on, and the one locking rule;
  ``postgres``: the PostgreSQL pool behind the same surface.
- ``migrations/``: the schema, one numbered list of migrations with an SQL file per engine.
- ``copy``: moving a SQLite store, chain and all, into PostgreSQL.
- ``conversations``: each conversation's state and the delivery keys processed once.
- ``audit/``: the tamper-evident chain of decisions (``chain``), its check (``verify``) and
  retention (``retention``).
- ``gaps``: questions asked and not answered, for the content's owners.
- ``references``: where a lead or channel can be reached later (proactive messages).
- ``redact``: identifiers taken out of free text before it is stored.
- ``digest/``: the leads' digest: figures (``query``), Markdown and CSV (``render``), chart (``chart``).
"""
