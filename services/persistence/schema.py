"""Create or migrate the schema with Alembic (`dutyflow init-db`)."""
from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from services.persistence.unit_of_work import Store

# The `migrations` package (installed with DutyFlow); Alembic wants it as a folder.
MIGRATIONS = files("migrations")


def alembic_config(store: Store | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if store is not None:
        config.attributes["engine"] = store.engine
    return config


def head_revision() -> str:
    """The schema revision this version of DutyFlow migrates to."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def init_db(store: Store) -> None:
    """Bring the database to the newest schema; safe to run on every start."""
    command.upgrade(alembic_config(store), "head")
