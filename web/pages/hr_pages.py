"""HR: KPI schemes per department, payroll runs, exports and payslips with their evidence.

Every rule (who may, what is valid, what a figure is) lives in services/; these views
turn form posts into the documents the services take and show what they answer.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from flask import (Response, abort, current_app, flash, redirect, render_template, request,
                   url_for)
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from services.errors import Conflict, InvalidInput, PermissionDenied
from services.pay import exports, kpi, payroll_runs, payslip_pdf, payslips, what_if
from services.reporting import dashboard as dashboard_service
from services.workflow import attachments

from ..notifications import catalogs
from . import bp, flash_refusal, page_actor, page_labels, signed_in, store
from .dashboard_pages import (
    chosen_period,
    current_period_text,
    ranking_chart,
    timezone,
    trend_charts,
)

ROW_FIELDS = ("metric", "weight", "target", "task", "process_key", "field", "value")
PARAMETERS = ("task", "process_key", "field", "value")
MAX_ROWS = 100
_ROW_INPUT = re.compile(r"^ind-(\d{1,4})-(" + "|".join(ROW_FIELDS) + r")$")
_ERROR_PATH = re.compile(r"^indicators\[(\d+)\](?:\.(\w+))?$")


def flag_labels() -> dict[str, str]:
    return {"no_scheme": _("no KPI scheme for the department"),
            "no_applicable_indicator": _("no applicable indicator"),
            "adjustments_only": _("no longer employed: adjustments only")}


def metric_labels() -> dict[str, str]:
    return {"completed_count": _("Completed count"), "on_time_rate": _("On-time rate"),
            "field_rate": _("Field value rate"), "avg_handling_hours": _("Average handling hours"),
            "completion_rate": _("Completion rate"),
            "escalation_free_rate": _("Escalation-free rate")}


# --- HR home ---------------------------------------------------------------------------

@bp.get("/hr")
@signed_in
def hr_home():
    actor = page_actor()
    period, period_error = chosen_period()
    with store().reading() as uow:
        runs = dashboard_service.payroll_run_list(uow, actor)
        schemes = dashboard_service.scheme_overview(uow, actor)
        departments = dashboard_service.department_rates(uow, actor, period)
        trend = dashboard_service.weekly_trend(uow, actor, period)
    return render_template("hr.html", runs=runs, schemes=schemes, departments=departments,
                           period=str(period), period_error=period_error, trend=trend,
                           charts=trend_charts(trend), ranking=ranking_chart(departments),
                           run_period=request.args.get("run_period") or current_period_text(1)), \
        422 if period_error else 200


@bp.post("/hr/payroll-runs")
@signed_in
def hr_create_run():
    period = (request.form.get("period") or "").strip()
    try:
        with store().writing() as uow:
            run = payroll_runs.create_run(uow, page_actor(), period, timezone())
            run_id = run.id
    except (Conflict, InvalidInput) as err:
        flash_refusal(err)
        return redirect(url_for("pages.hr_home", run_period=period) + "#run-payroll")
    flash(_("Payroll for %(period)s calculated as a draft.", period=period))
    return redirect(url_for("pages.hr_run", run_id=run_id))


# --- KPI scheme editor -----------------------------------------------------------------

def _rows_from_document(document: dict) -> list[dict[str, str]]:
    return [{name: str(item.get(name, "")) for name in ROW_FIELDS}
            for item in document.get("indicators", [])]


def _posted_rows(form: MultiDict) -> list[dict[str, str]]:
    """The indicator rows of the form, in their order, without those marked for removal."""
    rows: dict[int, dict[str, str]] = {}
    for name in form:
        match = _ROW_INPUT.match(name)
        if match:
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = form.get(name, "").strip()
    removed = set(form.getlist("remove"))
    return [{name: rows[index].get(name, "") for name in ROW_FIELDS}
            for index in sorted(rows) if str(index) not in removed][:MAX_ROWS]


def _is_blank(row: dict[str, str]) -> bool:
    return not any(row.values())


def _scheme_document(rows: list[dict[str, str]], cap: str, effective_from: str
                     ) -> tuple[dict, list[int]]:
    """The scheme document the service validates; and, per indicator, its row on the form."""
    indicators, positions = [], []
    for position, row in enumerate(rows):
        if _is_blank(row):
            continue  # the spare row, left empty
        item = {"metric": row["metric"], "weight": row["weight"], "target": row["target"]}
        item.update({name: row[name] for name in PARAMETERS if row[name]})
        indicators.append(item)
        positions.append(position)
    document: dict = {"indicators": indicators}
    if cap:
        document["cap"] = cap
    if effective_from:
        document["effective_from"] = effective_from
    return document, positions


def _place_errors(errors: dict, positions: list[int]) -> tuple[dict[int, dict], dict]:
    """Service error paths (`indicators[1].weight`) onto form rows; the rest stays general."""
    by_row: dict[int, dict[str, list[str]]] = {}
    general: dict[str, list[str]] = {}
    for path, messages in errors.items():
        messages = messages if isinstance(messages, list) else [str(messages)]
        match = _ERROR_PATH.match(path)
        if match and int(match.group(1)) < len(positions):
            field = match.group(2) or "_row"
            field = field if field in ROW_FIELDS else "_row"
            row = by_row.setdefault(positions[int(match.group(1))], {})
            row.setdefault(field, []).extend(messages)
        else:
            general.setdefault(path, []).extend(messages)
    return by_row, general


def _weight_total(rows: list[dict[str, str]]) -> str | None:
    """The sum of the weights typed so far, as the page shows it; None when one is not a number."""
    total = Decimal(0)
    for row in rows:
        if not row["weight"]:
            continue
        try:
            weight = Decimal(row["weight"])
        except InvalidOperation:
            return None
        if not weight.is_finite():
            return None
        total += weight
    return f"{total.normalize():f}"


def _scheme_for_editing(uow, actor, department_key: str) -> dict:
    """The scheme editor's department, scheme and duties; the duties named in the page's
    language (the ids, which indicators name, stay as drawn)."""
    editing = dashboard_service.scheme_for_editing(uow, actor, department_key)
    labels = page_labels(uow)
    return {**editing, "duties": [
        {**duty, "name": labels.step(duty["process_key"], duty["task"], duty["name"])}
        for duty in editing["duties"]]}


@bp.route("/hr/schemes/<department_key>", methods=["GET", "POST"])
@signed_in
def hr_scheme(department_key: str):
    actor = page_actor()
    with store().reading() as uow:
        editing = _scheme_for_editing(uow, actor, department_key)
    if request.method == "GET":
        document = (editing["scheme"] or {}).get("document") or {}
        return _editor(editing, _rows_from_document(document), str(document.get("cap", "")),
                       document.get("effective_from", ""))
    rows, cap, effective_from, document, positions = _posted_scheme()
    try:
        with store().writing() as uow:
            saved = kpi.set_scheme(uow, actor, department_key, document)
            version = saved.version
    except InvalidInput as err:
        return _editor(editing, rows, cap, effective_from, errors=_errors_of(err, positions))
    previous = editing["scheme"]["version"] if editing["scheme"] else None
    if previous == version:
        flash(_("Nothing changed; the scheme stays at version %(version)s.", version=version))
    else:
        flash(_("Saved the KPI scheme as version %(version)s.", version=version))
    return redirect(url_for("pages.hr_scheme", department_key=department_key))


PREVIEW_MONTHS = 6
MAX_PREVIEW_MONTHS = 24
WINNERS_AND_LOSERS = 10


@bp.post("/hr/schemes/<department_key>/preview")
@signed_in
def hr_scheme_preview(department_key: str):
    """The scheme on the form, scored on the last N months beside what was paid: nothing
    is saved, the form comes back as it was sent, with the comparison below it."""
    actor = page_actor()
    with store().reading() as uow:
        editing = _scheme_for_editing(uow, actor, department_key)
    rows, cap, effective_from, document, positions = _posted_scheme()
    months = request.form.get("months", type=int)
    if months is None or not 1 <= months <= MAX_PREVIEW_MONTHS:
        message = _("Preview 1 to %(most)s months.", most=MAX_PREVIEW_MONTHS)
        return _editor(editing, rows, cap, effective_from, months=request.form.get("months"),
                       errors=({}, {"months": [message]}))
    until = (request.form.get("until") or "").strip() or current_period_text(1)
    try:
        last = kpi.parse_period(until, timezone())
    except InvalidInput as err:
        return _editor(editing, rows, cap, effective_from, months=months, until=until,
                       errors=({}, {"until": [str(err)]}))
    periods = [last]
    while len(periods) < months:
        periods.insert(0, periods[0].previous())
    periods = [str(period) for period in periods]
    try:
        result = what_if.what_if(store(), actor, department_key,
                                 {"scheme": document, "periods": periods}, timezone())
    except InvalidInput as err:
        errors = {path.removeprefix("scheme."): messages
                  for path, messages in (err.errors or {}).items()}
        return _editor(editing, rows, cap, effective_from, months=months, until=until,
                       errors=_errors_of(InvalidInput(str(err), errors), positions))
    return _editor(editing, rows, cap, effective_from, months=months, until=until,
                   preview=result, charts=_preview_charts(result))


def _posted_scheme():
    rows = _posted_rows(request.form)
    cap = (request.form.get("cap") or "").strip()
    effective_from = (request.form.get("effective_from") or "").strip()
    document, positions = _scheme_document(rows, cap, effective_from)
    return rows, cap, effective_from, document, positions


def _errors_of(err: InvalidInput, positions: list[int]) -> tuple[dict[int, dict], dict]:
    errors = err.errors if isinstance(err.errors, dict) else {"_schema": [str(err)]}
    return _place_errors(errors, positions)


def _editor(editing: dict, rows: list[dict[str, str]], cap: str, effective_from: str, *,
            errors: tuple[dict, dict] = ({}, {}), months=PREVIEW_MONTHS, until="",
            preview=None, charts=None):
    row_errors, general = errors
    if not rows or not _is_blank(rows[-1]):
        rows.append({name: "" for name in ROW_FIELDS})
    return render_template("hr_scheme.html", department=editing["department"],
                           scheme=editing["scheme"], duties=editing["duties"], rows=rows, cap=cap,
                           effective_from=effective_from,
                           row_errors=row_errors, errors=general,
                           metrics=dashboard_service.metric_catalogue(),
                           metric_labels=metric_labels(), weight_total=_weight_total(rows),
                           months=months, until=until, max_months=MAX_PREVIEW_MONTHS,
                           preview=preview,
                           charts=charts), 422 if row_errors or general else 200


def _preview_charts(result: dict) -> dict[str, dict]:
    """Chart.js-ready data: the biggest losers and winners, and the totals per period."""
    employees = result["employees"]  # by change, losers first
    losers = [e for e in employees if Decimal(e["bonus_delta"]) < 0][:WINNERS_AND_LOSERS]
    winners = [e for e in reversed(employees) if Decimal(e["bonus_delta"]) > 0]
    shown = losers + winners[:WINNERS_AND_LOSERS][::-1]
    return {
        "people": {"labels": [e["name"] or e["username"] for e in shown],
                   "label_heading": _("Employee"), "percent": False,
                   "datasets": [{"label": _("Bonus change"),
                                 "data": [float(e["bonus_delta"]) for e in shown]}]},
        "periods": {"labels": [row["period"] for row in result["period_totals"]],
                    "label_heading": _("Period"), "percent": False,
                    "datasets": [{"label": _("Bonus paid or due"),
                                  "data": [float(row["actual_bonus"])
                                           for row in result["period_totals"]]},
                                 {"label": _("Bonus under the proposal"),
                                  "data": [float(row["proposed_bonus"])
                                           for row in result["period_totals"]]}]},
    }


# --- Payroll runs ----------------------------------------------------------------------

@bp.get("/hr/payroll-runs/<int:run_id>")
@signed_in
def hr_run(run_id: int):
    actor = page_actor()
    with store().reading() as uow:
        run = payroll_runs.get_run(uow, actor, run_id)
        view = payroll_runs.run_view(uow, run)
        meta = {"created_at": run.created_at, "calculated_at": run.calculated_at,
                "finalized_at": run.finalized_at, "finalized_by": run.finalized_by,
                "prepared_at": run.prepared_at, "approved_at": run.approved_at,
                "rejected_at": run.rejected_at}
        names = dashboard_service.employee_names(uow, [line["username"] for line in view["lines"]])
        labels = page_labels(uow, all_processes=False)
    return render_template("hr_run.html", run=view, meta=meta, names=names, flags=flag_labels(),
                           labels=labels,
                           may_review=view["status"] == "draft"
                           and view["prepared_by"] != actor.username)


@bp.post("/hr/payroll-runs/<int:run_id>/recalculate")
@signed_in
def hr_recalculate(run_id: int):
    try:
        with store().writing() as uow:
            payroll_runs.recalculate(uow, page_actor(), run_id, timezone())
    except Conflict as err:
        flash_refusal(err)
    else:
        flash(_("Run recalculated."))
    return redirect(url_for("pages.hr_run", run_id=run_id))


@bp.post("/hr/payroll-runs/<int:run_id>/approve")
@signed_in
def hr_approve(run_id: int):
    return _review(run_id, lambda uow, actor: payroll_runs.approve(uow, actor, run_id),
                   _("Run approved: it may now be finalised."))


@bp.post("/hr/payroll-runs/<int:run_id>/reject")
@signed_in
def hr_reject(run_id: int):
    reason = request.form.get("reason", "")
    return _review(run_id, lambda uow, actor: payroll_runs.reject(uow, actor, run_id, reason),
                   _("Run rejected; it needs a recalculation or another approval."))


def _review(run_id: int, change, done: str):
    """Approve or reject (four eyes): the service's refusal is flashed on the run's page."""
    try:
        with store().writing() as uow:
            change(uow, page_actor())
    except (Conflict, InvalidInput, PermissionDenied) as err:
        flash_refusal(err)
    else:
        flash(done)
    return redirect(url_for("pages.hr_run", run_id=run_id) + "#review")


@bp.post("/hr/payroll-runs/<int:run_id>/finalize")
@signed_in
def hr_finalize(run_id: int):
    if request.form.get("confirm") != "yes":
        flash(_("Tick the box to confirm: a final run can never change."), "error")
        return redirect(url_for("pages.hr_run", run_id=run_id) + "#finalize")
    try:
        with store().writing() as uow:
            payroll_runs.finalize(uow, page_actor(), run_id)
    except Conflict as err:
        flash_refusal(err)
    else:
        flash(_("Run finalised; it will never change."))
    return redirect(url_for("pages.hr_run", run_id=run_id))


EXPORT_TYPES = {"csv": "text/csv; charset=utf-8",
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@bp.get("/hr/payroll-runs/<int:run_id>/export")
@signed_in
def hr_export(run_id: int):
    file_format = request.args.get("format", "csv")
    if file_format not in EXPORT_TYPES:
        abort(422, description=_("Export as csv or xlsx."))
    with store().reading() as uow:
        run = payroll_runs.get_run(uow, page_actor(), run_id)
        body = exports.to_xlsx(uow, run) if file_format == "xlsx" else exports.to_csv(uow, run)
        filename = f"payroll-{run.period}-run{run.id}.{file_format}"
    return Response(body, mimetype=EXPORT_TYPES[file_format],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/hr/payroll-runs/<int:run_id>/payslips/<username>.pdf")
@signed_in
def hr_payslip_pdf(run_id: int, username: str):
    """The PDF of a final run's payslip: HR, admins, and the employee themself."""
    with store().reading() as uow:
        filename, body = payslip_pdf.payslip_pdf(uow, page_actor(), run_id, username,
                                                 timezone(), catalogs(), _pdf_font())
    return _attachment(body, "application/pdf", filename)


@bp.get("/hr/payroll-runs/<int:run_id>/payslips.zip")
@signed_in
def hr_payslips_zip(run_id: int):
    with store().reading() as uow:
        filename, body = payslip_pdf.payslips_zip(uow, page_actor(), run_id, timezone(),
                                                  catalogs(), _pdf_font())
    return _attachment(body, "application/zip", filename)


@bp.get("/payslips")
@signed_in
def my_payslips():
    """Everyone's own payslips of final runs, with their PDFs."""
    with store().reading() as uow:
        slips = payslips.my_payslips(uow, page_actor())
    return render_template("my_payslips.html", slips=slips)


def _pdf_font() -> str:
    return current_app.config["DUTYFLOW_SETTINGS"].pdf_font


def _attachment(body: bytes, mimetype: str, filename: str) -> Response:
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _when(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


EVIDENCE_PAGE = 100


def dated(item: dict) -> dict:
    return {**item, "ready_at": _when(item["ready_at"]),
            "completed_at": _when(item["completed_at"]), "due_at": _when(item["due_at"]),
            "escalations": [{**escalation, "at": _when(escalation["at"])}
                            for escalation in item.get("escalations", ())]}


@bp.get("/hr/payroll-runs/<int:run_id>/payslips/<username>")
@signed_in
def hr_payslip(run_id: int, username: str):
    actor = page_actor()
    # A busy inspector has thousands of completions a month: the screen pages them (the
    # API's payslip and the exports carry all of them).
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    with store().reading() as uow:
        slip = payslips.payslip(uow, actor, run_id, username, timezone(),
                                page=(EVIDENCE_PAGE, (page - 1) * EVIDENCE_PAGE))
        name = dashboard_service.employee_names(uow, [username]).get(username, username)
        labels = page_labels(uow, {item["process_instance_id"] for item
                                   in (*slip["evidence"], *slip["other_departments"])})
        viewable = attachments.visible_tasks(uow, actor, [
            item["task_id"] for item in slip["evidence"] + slip["other_departments"]])
    pages = max(1, -(-slip["evidence_total"] // EVIDENCE_PAGE))
    return render_template("hr_payslip.html", slip=slip, name=name, username=username,
                           own=[dated(item) for item in slip["evidence"]],
                           own_total=slip["evidence_total"], page=min(page, pages), pages=pages,
                           other=[dated(item) for item in slip["other_departments"]],
                           other_total=slip["other_total"],
                           flags=flag_labels(), metric_labels=metric_labels(),
                           may_see_run=actor.has("hr", "admin"), labels=labels,
                           viewable=viewable)
