"""Alembic migrations, a package so that an installed wheel carries them: `dutyflow init-db`
finds this folder with importlib.resources (services/persistence/schema.py)."""
