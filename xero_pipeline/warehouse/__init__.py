"""The warehouse: table definitions (one for SQLite and PostgreSQL), bulk staging, publishing in
one transaction, and the sync state that makes incremental reads resumable."""
