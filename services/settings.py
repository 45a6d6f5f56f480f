"""Configuration read once from the environment, explicit and typed."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SQLITE_PATH = Path("instance") / "dutyflow.db"


@dataclass(frozen=True)
class Settings:
    database_url: str
    timezone: str = "UTC"
    token_ttl_hours: int = 12

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        url = env.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"
        return cls(database_url=url, timezone=env.get("DUTYFLOW_TIMEZONE", "UTC"),
                   token_ttl_hours=int(env.get("DUTYFLOW_TOKEN_TTL_HOURS", "12")))
