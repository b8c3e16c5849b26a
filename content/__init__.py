"""Content packs and topics as data (``packs/``, ``topics/``, ``prepared/``), with their loader
(``loader``, ``topics``), the documents by name (``sources``) and the checks (``check`` for
packs and topics, ``citations`` for headings and copying against the seed documents)."""
