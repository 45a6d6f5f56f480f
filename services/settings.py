"""Configuration read once from the environment, explicit and typed."""
from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SQLITE_PATH = Path("instance") / "dutyflow.db"
DEFAULT_FILES_DIR = Path("instance") / "files"
# What a file field accepts unless its `dutyflow:accept` says otherwise: photos and scans.
DEFAULT_UPLOAD_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf")


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
    metrics_token: str = ""  # the bearer token a Prometheus scrape sends to /metrics
    json_logs: bool = False  # serve logs one JSON object per line
    # Single sign-on (OpenID Connect) for the pages; off while oidc_issuer is empty.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_username_claim: str = "preferred_username"
    oidc_groups_claim: str = "groups"
    oidc_group_roles: str = ""  # group=role,...; empty: roles stay the org file's
    password_sign_in: bool = True
    # Background jobs on Celery (web/jobs.py): redis://host:6379/0 or amqp://user:pass@host//;
    # empty: serve runs them in-process (the SQLite demo).
    broker_url: str = ""
    job_queue: str = "dutyflow"  # the broker queue of this deployment's jobs
    pdf_font: str = ""  # a CJK .ttf/.otf/.ttc for payslip PDFs; empty: Debian's fonts-noto-cjk
    # Attachments (services.workflow.attachments): where files live, the most one file may
    # hold, the most one request may carry, the media types a file field takes by default.
    files_dir: str = str(DEFAULT_FILES_DIR)
    files_in_database: bool = False  # small deployments: the bytes in table file_blobs
    max_upload_mb: float = 20.0
    max_request_mb: float = 100.0
    upload_types: tuple[str, ...] = DEFAULT_UPLOAD_TYPES

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
                   metrics_token=env.get("DUTYFLOW_METRICS_TOKEN", ""),
                   json_logs=env.get("DUTYFLOW_LOG_FORMAT", "").lower() == "json",
                   oidc_issuer=env.get("DUTYFLOW_OIDC_ISSUER", ""),
                   oidc_client_id=env.get("DUTYFLOW_OIDC_CLIENT_ID", ""),
                   oidc_client_secret=env.get("DUTYFLOW_OIDC_CLIENT_SECRET", ""),
                   oidc_username_claim=env.get("DUTYFLOW_OIDC_USERNAME_CLAIM",
                                               "preferred_username"),
                   oidc_groups_claim=env.get("DUTYFLOW_OIDC_GROUPS_CLAIM", "groups"),
                   oidc_group_roles=env.get("DUTYFLOW_OIDC_GROUP_ROLES", ""),
                   password_sign_in=env.get("DUTYFLOW_PASSWORD_SIGN_IN", "on").lower()
                   not in ("0", "off", "false", "no"),
                   broker_url=env.get("DUTYFLOW_BROKER_URL", ""),
                   job_queue=env.get("DUTYFLOW_JOB_QUEUE", "") or "dutyflow",
                   pdf_font=env.get("DUTYFLOW_PDF_FONT", ""),
                   files_dir=env.get("DUTYFLOW_FILES_DIR") or str(DEFAULT_FILES_DIR),
                   files_in_database=env.get("DUTYFLOW_FILES_IN_DATABASE", "") in
                   ("1", "true", "yes"),
                   max_upload_mb=float(env.get("DUTYFLOW_MAX_UPLOAD_MB", "20")),
                   max_request_mb=float(env.get("DUTYFLOW_MAX_REQUEST_MB", "100")),
                   upload_types=tuple(part.strip().lower() for part in env.get(
                       "DUTYFLOW_UPLOAD_TYPES", ",".join(DEFAULT_UPLOAD_TYPES)).split(",")
                       if part.strip()))


def _local_secret() -> str:
    """Without DUTYFLOW_SECRET_KEY, a random key kept in instance/ so sessions survive restarts.

    Created atomically: processes starting together on one machine (serve and its workers)
    all read the one key whichever wrote it. Nodes on several machines need
    DUTYFLOW_SECRET_KEY, the same on each."""
    path = Path("instance") / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(secrets.token_urlsafe(48))
    for _ in range(50):  # the winner may not have written it yet
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: delete it or set DUTYFLOW_SECRET_KEY")
