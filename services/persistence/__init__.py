"""Persistence: models and migrations, units of work, and hand-built SQL.

Owns the typed SQLAlchemy models (`models`), the Store and its units of work
(`unit_of_work`, `db`), schema migration (`schema`), the statements a process step runs
(`step_store`), bulk writes (`bulk`), health pings, SQLite backups and idempotency keys.
Imports nothing else from services but `services.errors`.
"""
