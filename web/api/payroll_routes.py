"""KPI schemes, payroll runs, payslips, corrections and management reports."""
from __future__ import annotations

from flask import Response, current_app

from services.pay import export_jobs, exports, kpi, my_kpi, payroll_runs, payslips, what_if
from services.pay import payslip_pdf as pdf
from services.reporting import reports
from services.workflow import corrections
from services.workflow.views import event_view

from ..notifications import catalogs
from . import actor, bp, check_storable, request_json, store
from .contract import Documented, operation
from .schemas import (Correction, CorrectionRequest, EmployeeReport, ExportQuery, JobHeaders,
                      KpiRow, KpiScheme, KpiSchemeRequest, MyKpi, MyKpiQuery, PayrollExport,
                      PayrollExportRequest, PayrollRun, PayrollRunRequest, Payslip,
                      PeriodQuery, RankingRow, ReasonRequest, TrendQuery, TrendRow, WhatIf,
                      WhatIfRequest)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _settings():
    return current_app.config["DUTYFLOW_SETTINGS"]


def _timezone() -> str:
    return _settings().timezone


@bp.get("/kpi-schemes/<department_key>")
@operation({200: KpiScheme}, problems=(403, 404))
def get_kpi_scheme(department_key: str):
    """A department's KPI scheme (HR or admin)."""
    with store().reading() as uow:
        return kpi.scheme_view(kpi.get_scheme(uow, actor(), department_key))


@bp.put("/kpi-schemes/<department_key>")
@operation({200: KpiScheme}, body=Documented(KpiSchemeRequest), problems=(403, 404, 422))
def put_kpi_scheme(department_key: str):
    """Store a new version of a department's KPI scheme when it changed (HR or admin)."""
    document = request_json()
    check_storable(document)
    with store().writing() as uow:
        return kpi.scheme_view(kpi.set_scheme(uow, actor(), department_key, document))


@bp.post("/kpi-schemes/<department_key>/what-if")
@operation({200: WhatIf}, body=Documented(WhatIfRequest), problems=(403, 404, 422))
def kpi_scheme_what_if(department_key: str):
    """A proposed scheme scored on past periods beside what was paid: per employee and
    period, KPI score and bonus actual and proposed, deltas, totals, distribution (HR or
    admin). Nothing is written."""
    return what_if.what_if(store(), actor(), department_key, request_json(), _timezone())


@bp.get("/kpi")
@operation({200: KpiRow(many=True)}, query=PeriodQuery, problems=(403, 422))
def kpi_report(query: dict):
    """Per employee: each indicator's actual, target, score and applicability; the KPI score."""
    with store().reading() as uow:
        period = kpi.parse_period(query["period"], _timezone())
        return kpi.kpi_report(uow, actor(), period, query.get("department"))


@bp.get("/me/kpi")
@operation({200: MyKpi}, query=MyKpiQuery, problems=(422,))
def get_my_kpi(query: dict):
    """The caller's own KPI for a month (default: this month): each indicator's actual,
    target and score, the completions that count, what completing the tasks they hold now
    would make of it, and their payslips of final runs. Computed by payroll's own code, so a
    closed month's figures are its run's."""
    return my_kpi.my_kpi(store(), actor(), query.get("period"), _timezone())


@bp.post("/payroll-runs")
@operation({201: PayrollRun}, body=PayrollRunRequest, problems=(403, 409, 422))
def create_payroll_run(body: dict):
    """Calculate a draft payroll run for a period."""
    with store().writing() as uow:
        run = payroll_runs.create_run(uow, actor(), body["period"], _timezone())
        return payroll_runs.run_view(uow, run), 201


@bp.get("/payroll-runs/<int:run_id>")
@operation({200: PayrollRun}, problems=(403, 404))
def get_payroll_run(run_id: int):
    """A payroll run with its lines and totals."""
    with store().reading() as uow:
        return payroll_runs.run_view(uow, payroll_runs.get_run(uow, actor(), run_id))


@bp.post("/payroll-runs/<int:run_id>/recalculate")
@operation({200: PayrollRun}, problems=(403, 404, 409))
def recalculate_payroll_run(run_id: int):
    """Recalculate a draft run (409 once final)."""
    with store().writing() as uow:
        run = payroll_runs.recalculate(uow, actor(), run_id, _timezone())
        return payroll_runs.run_view(uow, run)


@bp.post("/payroll-runs/<int:run_id>/approve")
@operation({200: PayrollRun}, problems=(403, 404, 409))
def approve_payroll_run(run_id: int):
    """Approve a draft for finalising: HR or admin other than whoever prepared it (403)."""
    with store().writing() as uow:
        run = payroll_runs.approve(uow, actor(), run_id)
        return payroll_runs.run_view(uow, run)


@bp.post("/payroll-runs/<int:run_id>/reject")
@operation({200: PayrollRun}, body=ReasonRequest, problems=(403, 404, 409, 422))
def reject_payroll_run(run_id: int, body: dict):
    """Send a draft back with a reason: HR or admin other than whoever prepared it (403)."""
    with store().writing() as uow:
        run = payroll_runs.reject(uow, actor(), run_id, body["reason"])
        return payroll_runs.run_view(uow, run)


@bp.post("/payroll-runs/<int:run_id>/finalize")
@operation({200: PayrollRun}, problems=(403, 404, 409))
def finalize_payroll_run(run_id: int):
    """Finalise an approved run (409 unapproved); after that it never changes (409)."""
    with store().writing() as uow:
        run = payroll_runs.finalize(uow, actor(), run_id)
        return payroll_runs.run_view(uow, run)


@bp.get("/payroll-runs/<int:run_id>/export")
@operation({200: ("text/csv", XLSX)}, query=ExportQuery, problems=(403, 404, 422))
def export_payroll_run(run_id: int, query: dict):
    """The run as CSV (formula-safe) or XLSX."""
    with store().reading() as uow:
        run = payroll_runs.get_run(uow, actor(), run_id)
        if query["format"] == "xlsx":
            body, mimetype = exports.to_xlsx(uow, run), XLSX
        else:
            body, mimetype = exports.to_csv(uow, run), "text/csv; charset=utf-8"
    filename = f"payroll-{run.period}-run{run.id}.{query['format']}"
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.post("/payroll-runs/<int:run_id>/exports")
@operation({202: PayrollExport}, body=PayrollExportRequest, reply_headers={202: JobHeaders},
           problems=(403, 404, 422, 503))
def request_payroll_export(run_id: int, body: dict):
    """Have the run exported as CSV or XLSX by a background job, for runs too large to
    export within a request (HR or admin): 202 with the export to poll (Location) until
    its status is ready, then GET its file_url."""
    with store().writing() as uow:
        row = export_jobs.request_export(uow, actor(), run_id, body["format"])
        export_id = row.id
    _dispatcher().payroll_export(export_id)
    with store().reading() as uow:
        view = export_jobs.export_view(export_jobs.get_export(uow, actor(), export_id))
    return view, 202, {"location": f"/api/v1/payroll-exports/{export_id}"}


@bp.get("/payroll-exports/<int:export_id>")
@operation({200: PayrollExport}, problems=(403, 404))
def get_payroll_export(export_id: int):
    """An export asked for with POST /payroll-runs/{id}/exports: queued, ready or failed."""
    with store().reading() as uow:
        return export_jobs.export_view(export_jobs.get_export(uow, actor(), export_id))


@bp.get("/payroll-exports/<int:export_id>/file")
@operation({200: ("text/csv", XLSX)}, problems=(403, 404, 409))
def payroll_export_file(export_id: int):
    """The export's file once it is ready (409 while queued, or when it failed)."""
    with store().reading() as uow:
        filename, mimetype, body = export_jobs.export_file(uow, actor(), export_id)
    return _download(body, mimetype, filename)


def _dispatcher():
    """The app's job dispatcher, made at first use (Celery is loaded only then)."""
    extensions = current_app.extensions
    if "dutyflow_jobs" not in extensions:
        from ..jobs import Dispatcher
        extensions["dutyflow_jobs"] = Dispatcher(_settings(), store())
    return extensions["dutyflow_jobs"]


@bp.get("/payroll-runs/<int:run_id>/payslips/<username>.pdf")
@operation({200: ("application/pdf",)}, problems=(403, 404, 409, 503))
def payslip_pdf(run_id: int, username: str):
    """A final run's payslip as PDF in the employee's language (HR, admin, the employee)."""
    with store().reading() as uow:
        filename, body = pdf.payslip_pdf(uow, actor(), run_id, username, _timezone(),
                                         catalogs(), _settings().pdf_font)
    return _download(body, "application/pdf", filename)


@bp.get("/payroll-runs/<int:run_id>/payslips.zip")
@operation({200: ("application/zip",)}, problems=(403, 404, 409, 503))
def payslips_zip(run_id: int):
    """Every payslip of a final run as PDFs in one ZIP, one per line (HR or admin)."""
    with store().reading() as uow:
        filename, body = pdf.payslips_zip(uow, actor(), run_id, _timezone(), catalogs(),
                                          _settings().pdf_font)
    return _download(body, "application/zip", filename)


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/payroll-runs/<int:run_id>/payslips/<username>")
@operation({200: Payslip}, problems=(403, 404))
def payslip(run_id: int, username: str):
    """A payslip with each indicator and the events behind every figure."""
    with store().reading() as uow:
        return payslips.payslip(uow, actor(), run_id, username, _timezone())


@bp.post("/events/<int:event_id>/corrections")
@operation({201: Correction}, body=CorrectionRequest, problems=(403, 404, 422))
def correct_event(event_id: int, body: dict):
    """Correct a completion's recorded data (head of its department, a manager above, admin)."""
    with store().writing() as uow:
        event = corrections.correct_event(uow, actor(), event_id, body["data"], body["reason"])
        view = event_view(event)
    return {**view, "corrects_event_id": event.corrects_event_id, "reason": event.reason,
            "recorded_by": event.recorded_by}, 201


@bp.get("/reports/department-ranking")
@operation({200: RankingRow(many=True)}, query=PeriodQuery, problems=(403, 422))
def department_ranking(query: dict):
    """Completion and on-time rates per department, ranked."""
    with store().reading() as uow:
        period = kpi.parse_period(query["period"], _timezone())
        return reports.department_ranking(uow, actor(), period)


@bp.get("/reports/employees/<username>")
@operation({200: EmployeeReport}, query=PeriodQuery, problems=(403, 422))
def employee_report(username: str, query: dict):
    """One employee's duties in a period, with the evidence."""
    with store().reading() as uow:
        period = kpi.parse_period(query["period"], _timezone())
        return reports.employee_report(uow, actor(), username, period)


@bp.get("/reports/trend")
@operation({200: TrendRow(many=True)}, query=TrendQuery, problems=(403, 422))
def trend(query: dict):
    """Completions and on-time rate per department per week or month (before/after analysis),
    in the configured time zone; buckets without completions are left out."""
    with store().reading() as uow:
        return reports.trend(uow, actor(), query["from_"], query["to"], query["granularity"],
                             _timezone())
