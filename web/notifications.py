"""Notifications as the web layer shows and sends them: the message catalogues (the same
.mo files as the pages), the delivery worker's channels and policy from the settings,
and one notification as the API and the pages show it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from services.notify.channels import Channels
from services.notify.delivery import DeliveryPolicy
from services.notify.messages import Catalogs, Gettext, render
from services.persistence.models import Notification
from services.settings import Settings
from services.workflow.views import iso

TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def catalogs() -> Catalogs:
    return Catalogs(TRANSLATIONS)


def channels(settings: Settings, catalogs_: Catalogs | None = None) -> Channels:
    """The channels one delivering thread sends with (each keeps its own connections)."""
    return Channels(smtp_url=settings.smtp_url, mail_from=settings.mail_from,
                    base_url=settings.base_url, catalogs=catalogs_ or catalogs())


def policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(max_attempts=settings.notify_max_attempts,
                          retry_seconds=settings.notify_retry_seconds)


def notification_view(row: Notification, gettext: Gettext, base_url: str,
                      locale: str | None = None) -> dict[str, Any]:
    """The notification as its reader sees it: `gettext` and `locale` are the reader's."""
    message = render(row.kind, row.payload, gettext, base_url, locale)
    return {"id": row.id, "kind": row.kind, "title": message.title, "text": message.body,
            "url": message.url, "task_id": row.task_id,
            "process_instance_id": row.process_instance_id,
            "payroll_run_id": row.payroll_run_id, "data": row.payload,
            "created_at": iso(row.created_at), "read_at": iso(row.read_at)}
