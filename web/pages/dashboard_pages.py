"""The management dashboard: department and personal rates, overdue work, weekly trends.

Managers see the departments they oversee; HR and admins see every department.
The helpers here (period choice, chart data) are shared with the HR pages. Refusals
(PermissionDenied: 403) and unknown things (404) become HTML pages in web/errors.py.
"""
from __future__ import annotations

import datetime as dt

from babel.dates import format_skeleton
from flask import current_app, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _

from payroll.periods import Period
from services.errors import InvalidInput
from services.pay.kpi import parse_period
from services.persistence.models import utcnow
from services.reporting import dashboard as dashboard_service

from . import bp, page_actor, page_labels, signed_in, store


def timezone() -> str:
    return current_app.config["DUTYFLOW_SETTINGS"].timezone


def current_period_text(months_back: int = 0) -> str:
    period = Period.of(utcnow(), timezone())
    for _month in range(months_back):
        period = period.previous()
    return str(period)


def chosen_period():
    """The `?period=` of the request, else the current month; with the error when it was bad."""
    text = request.args.get("period") or current_period_text()
    try:
        return parse_period(text, timezone()), None
    except InvalidInput as err:
        return parse_period(current_period_text(), timezone()), str(err)


def _week_label(monday: dt.date) -> str:
    return format_skeleton("MMMd", monday, locale=get_locale())


def _fraction(value: str | None) -> float | None:
    return None if value is None else float(value)


def trend_charts(trend: dict) -> dict[str, dict]:
    """Chart.js-ready data (and the table fallback's) for the weekly trend."""
    labels = [_week_label(monday) for monday in trend["weeks"]]
    return {
        "on_time": {"labels": labels, "label_heading": _("Week of"), "percent": True,
                    "datasets": [{"label": series["name"],
                                  "data": [_fraction(rate) for rate in series["on_time_rate"]]}
                                 for series in trend["series"]]},
        "completed": {"labels": labels, "label_heading": _("Week of"), "percent": False,
                      "datasets": [{"label": series["name"], "data": series["completed"]}
                                   for series in trend["series"]]},
    }


def ranking_chart(departments: list[dict]) -> dict:
    return {"labels": [row["name"] for row in departments], "label_heading": _("Department"),
            "percent": True,
            "datasets": [{"label": _("Completion rate"),
                          "data": [_fraction(row["completion_rate"]) for row in departments]},
                         {"label": _("On-time rate"),
                          "data": [_fraction(row["on_time_rate"]) for row in departments]}]}


@bp.get("/dashboard")
@signed_in
def dashboard():
    actor = page_actor()
    period, period_error = chosen_period()
    now = utcnow()
    with store().reading() as uow:
        departments = dashboard_service.department_rates(uow, actor, period)
        people = dashboard_service.person_rates(uow, actor, period)
        overdue = dashboard_service.overdue_tasks(uow, actor, now)
        trend = dashboard_service.weekly_trend(uow, actor, period, now=now)
        # Labels name every department, not only the overseen ones: an overdue task's
        # escalation may have climbed to a department above them.
        labels = page_labels(uow, {task["process_instance_id"] for task in overdue})
    return render_template("dashboard.html", period=str(period), period_error=period_error,
                           departments=departments, people=people, overdue=overdue, now=now,
                           trend=trend, charts=trend_charts(trend),
                           ranking=ranking_chart(departments),
                           all_departments=actor.has("hr", "admin"), labels=labels), \
        422 if period_error else 200
