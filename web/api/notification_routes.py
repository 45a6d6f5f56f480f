"""The caller's notifications and channel choices; for admins, deliveries and resending."""
from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from services.notify import inbox, preferences
from services.persistence.models import Delivery, Employee
from services.workflow.views import iso

from .. import notifications as shown
from . import actor, bp, store
from .contract import operation
from .schemas import (DeliveryItem, DeliveryQuery, MarkReadRequest, NotificationList,
                      NotificationListQuery, NotificationSettings, NotificationSettingsRequest,
                      UnreadCount)


def _settings():
    return current_app.config["DUTYFLOW_SETTINGS"]


def _employee_field(uow, name: str):
    return uow.session.scalar(select(getattr(Employee, name))
                              .where(Employee.username == actor().username))


@bp.get("/notifications")
@operation({200: NotificationList}, query=NotificationListQuery, problems=(422,))
def list_notifications(query: dict):
    """The caller's notifications, newest first, with the unread count (the bell's)."""
    with store().reading() as uow:
        page = inbox.mine(uow, actor(), query["limit"], query.get("before"), query["unread"])
        locale = _employee_field(uow, "locale")
        gettext = current_app.extensions["dutyflow_catalogs"].gettext(locale)
        base_url = _settings().base_url
        return {"unread": page.unread,
                "notifications": [shown.notification_view(row, gettext, base_url, locale)
                                  for row in page.notifications]}


@bp.post("/notifications/read")
@operation({200: UnreadCount}, body=MarkReadRequest, problems=(422,))
def mark_notifications_read(body: dict):
    """Mark some of the caller's notifications read (ids not theirs are ignored)."""
    with store().writing() as uow:
        return {"unread": inbox.mark_read(uow, actor(), body["ids"])}


@bp.get("/notifications/deliveries")
@operation({200: DeliveryItem(many=True)}, query=DeliveryQuery, problems=(403, 422))
def list_deliveries(query: dict):
    """Deliveries, newest first (admins); `status=failed` lists those waiting for a resend."""
    with store().reading() as uow:
        return [delivery_view(row) for row in
                inbox.deliveries(uow, actor(), query.get("status"), query["limit"])]


@bp.post("/notifications/deliveries/<delivery_id>/resend")
@operation({200: DeliveryItem}, problems=(403, 404, 409))
def resend_delivery(delivery_id: str):
    """Queue a failed delivery again, same delivery id, attempts from zero (admins)."""
    with store().writing() as uow:
        return delivery_view(inbox.resend(uow, actor(), delivery_id))


@bp.get("/me/notification-settings")
@operation({200: NotificationSettings})
def get_notification_settings():
    """The caller's channels: in-app, email, and their department's new tasks (opt-in)."""
    with store().reading() as uow:
        return {**preferences.settings_of(uow, actor().username),
                "email_address": _employee_field(uow, "email")}


@bp.put("/me/notification-settings")
@operation({200: NotificationSettings}, body=NotificationSettingsRequest, problems=(422,))
def put_notification_settings(body: dict):
    """Change the caller's channels (the keys given; the others stay)."""
    with store().writing() as uow:
        chosen = preferences.save_settings(uow, actor(), body)
        return {**chosen, "email_address": _employee_field(uow, "email")}


def delivery_view(row: Delivery) -> dict:
    return {"id": row.id, "notification_id": row.notification_id, "channel": row.channel,
            "target": row.target, "kind": row.kind, "status": row.status,
            "attempts": row.attempts, "next_attempt_at": iso(row.next_attempt_at),
            "created_at": iso(row.created_at), "sent_at": iso(row.sent_at),
            "last_error": row.last_error}
