"""The account's notifications page: the list behind the header's bell, marking read, and
the person's choice of channels; for admins, the deliveries that failed, with a resend."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from services.errors import Conflict, NotFound
from services.notify import inbox, preferences
from services.persistence.models import Employee
from services.persistence.statuses import DeliveryStatus

from ..notifications import notification_view
from . import bp, flash_refusal, page_actor, page_locale, signed_in, store


@bp.get("/notifications")
@signed_in
def notifications():
    actor = page_actor()
    with store().reading() as uow:
        page = inbox.mine(uow, actor, limit=100)
        chosen = preferences.settings_of(uow, actor.username)
        email = uow.session.scalar(select(Employee.email)
                                   .where(Employee.username == actor.username))
    items = [{**notification_view(row, _, "", page_locale()), "created": row.created_at}
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


@bp.get("/notifications/deliveries")
@signed_in
def deliveries():
    """Deliveries (admins), the failed ones unless `?status=` names another or `all`."""
    status = request.args.get("status", DeliveryStatus.FAILED)
    status = status if status in set(DeliveryStatus) else None
    with store().reading() as uow:
        rows = inbox.deliveries(uow, page_actor(), status, limit=200)
    return render_template("deliveries.html", deliveries=rows, status=status,
                           statuses=list(DeliveryStatus))


@bp.post("/notifications/deliveries/<delivery_id>/resend")
@signed_in
def resend_delivery(delivery_id: str):
    """Queue a failed delivery again, same delivery id (admins)."""
    try:
        with store().writing() as uow:
            row = inbox.resend(uow, page_actor(), delivery_id)
            flash(_("Delivery %(id)s to %(target)s is queued again.", id=row.id,
                    target=row.target))
    except NotFound:
        abort(404)
    except Conflict as err:
        flash_refusal(err)
    return redirect(url_for("pages.deliveries"))
