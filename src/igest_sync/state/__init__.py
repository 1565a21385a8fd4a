"""Local state: the SQLite ledger, its schema and migrations, and the run lock."""
