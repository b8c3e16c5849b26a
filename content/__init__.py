"""Content packs and topics as data, with their loader and schema check."""
