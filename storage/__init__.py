"""SQLite storage: conversation state, the audit record, content gaps."""
