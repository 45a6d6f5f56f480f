"""Configuration read once from the environment, explicit and typed."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SQLITE_PATH = Path("instance") / "dutyflow.db"


@dataclass(frozen=True)
class Settings:
    database_url: str
    timezone: str = "UTC"
    token_ttl_hours: int = 12
    secret_key: str = ""
    ratelimit_storage_url: str = ""  # empty: sign-in attempts are counted in memory
    https: bool = False  # served over HTTPS only: cookies always Secure, HSTS sent
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-* headers count
    # Notifications (services.notify): where email goes, who sends it, the links' base,
    # how often the delivery worker tries and how long it waits before the next try.
    smtp_url: str = ""  # smtp://host:port, smtp+starttls://user:pass@host:587, smtps://...
    mail_from: str = "dutyflow@localhost"
    base_url: str = "http://127.0.0.1:5000"
    notify_max_attempts: int = 6
    notify_retry_seconds: float = 30.0  # first retry after this; doubled each time, at most 1 h
    pdf_font: str = ""  # a CJK .ttf/.otf/.ttc for payslip PDFs; empty: Debian's fonts-noto-cjk

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        url = env.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"
        return cls(database_url=url, timezone=env.get("DUTYFLOW_TIMEZONE", "UTC"),
                   token_ttl_hours=int(env.get("DUTYFLOW_TOKEN_TTL_HOURS", "12")),
                   secret_key=env.get("DUTYFLOW_SECRET_KEY") or _local_secret(),
                   ratelimit_storage_url=env.get("DUTYFLOW_RATELIMIT_STORAGE_URL", ""),
                   https=env.get("DUTYFLOW_HTTPS", "") in ("1", "true", "yes"),
                   trusted_proxies=int(env.get("DUTYFLOW_TRUSTED_PROXIES", "0")),
                   smtp_url=env.get("DUTYFLOW_SMTP_URL", ""),
                   mail_from=env.get("DUTYFLOW_MAIL_FROM", "dutyflow@localhost"),
                   base_url=env.get("DUTYFLOW_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
                   notify_max_attempts=int(env.get("DUTYFLOW_NOTIFY_MAX_ATTEMPTS", "6")),
                   notify_retry_seconds=float(env.get("DUTYFLOW_NOTIFY_RETRY_SECONDS", "30")),
                   pdf_font=env.get("DUTYFLOW_PDF_FONT", ""))


def _local_secret() -> str:
    """Without DUTYFLOW_SECRET_KEY, a random key kept in instance/ so sessions survive restarts."""
    path = Path("instance") / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()
