"""Create or migrate the schema with Alembic (`dutyflow init-db`)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from services.persistence.unit_of_work import Store

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(store: Store) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = store.engine
    return config


def init_db(store: Store) -> None:
    """Bring the database to the newest schema; safe to run on every start."""
    command.upgrade(alembic_config(store), "head")
