"""The account's notifications page: the list behind the header's bell, marking read, and
the person's choice of channels."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from services.notify import inbox, preferences
from services.persistence.models import Employee

from ..notifications import notification_view
from . import bp, page_actor, signed_in, store


@bp.get("/notifications")
@signed_in
def notifications():
    actor = page_actor()
    with store().reading() as uow:
        page = inbox.mine(uow, actor, limit=100)
        chosen = preferences.settings_of(uow, actor.username)
        email = uow.session.scalar(select(Employee.email)
                                   .where(Employee.username == actor.username))
    items = [{**notification_view(row, _, ""), "created": row.created_at}
             for row in page.notifications]
    return render_template("notifications.html", items=items, unread=page.unread,
                           chosen=chosen, email=email)


@bp.post("/notifications/read")
@signed_in
def mark_notifications_read():
    """One notification (`id`), or all of them."""
    raw = request.form.get("id", "")
    ids = [int(raw)] if raw.isdigit() and len(raw) < 10 else None
    with store().writing() as uow:
        inbox.mark_read(uow, page_actor(), ids)
    return redirect(url_for("pages.notifications"))


@bp.post("/notifications/settings")
@signed_in
def save_notification_settings():
    with store().writing() as uow:
        preferences.save_settings(uow, page_actor(), {
            name: request.form.get(name) == "on" for name in preferences.DEFAULTS})
    flash(_("Your notification settings are saved."))
    return redirect(url_for("pages.notifications"))
