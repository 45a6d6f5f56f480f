"""Create or migrate the schema with Alembic (`dutyflow init-db`)."""
from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config

from services.persistence.unit_of_work import Store

# The `migrations` package (installed with DutyFlow); Alembic wants it as a folder.
MIGRATIONS = files("migrations")


def alembic_config(store: Store) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = store.engine
    return config


def init_db(store: Store) -> None:
    """Bring the database to the newest schema; safe to run on every start."""
    command.upgrade(alembic_config(store), "head")
