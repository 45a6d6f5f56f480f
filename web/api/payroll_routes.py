"""KPI schemes, payroll runs, payslips, corrections and management reports."""
from __future__ import annotations

from flask import Response, current_app, jsonify, request

from services.pay import exports, kpi, payroll_runs, payslips
from services.reporting import reports
from services.workflow import corrections
from services.workflow.views import event_view

from . import actor, bp, check_storable, load, request_json, store
from .schemas import CorrectionRequest, ExportQuery, PayrollRunRequest, PeriodQuery, TrendQuery


def _timezone() -> str:
    return current_app.config["DUTYFLOW_SETTINGS"].timezone


@bp.route("/kpi-schemes/<department_key>", methods=["GET", "PUT"])
def kpi_scheme(department_key: str):
    """A department's KPI scheme (HR or admin); PUT stores a new version when it changed.
    ---
    get:
      parameters: [{name: department_key, in: path, required: true, schema: {type: string}}]
      responses:
        200: {content: {application/json: {schema: {type: object}}}}
        403, 404: problem
    put:
      parameters: [{name: department_key, in: path, required: true, schema: {type: string}}]
      requestBody: {content: {application/json: {schema: KpiSchemeRequest}}}
      responses:
        200: {content: {application/json: {schema: {type: object}}}}
        403, 404, 422: problem
    """
    if request.method == "PUT":
        document = request_json()
        check_storable(document)
        with store().writing() as uow:
            row = kpi.set_scheme(uow, actor(), department_key, document)
            return jsonify(kpi.scheme_view(row))
    with store().reading() as uow:
        return jsonify(kpi.scheme_view(kpi.get_scheme(uow, actor(), department_key)))


@bp.get("/kpi")
def kpi_report():
    """Per employee: each indicator's actual, target, score and applicability; the KPI score.
    ---
    get:
      parameters:
        - {name: period, in: query, required: true, schema: {type: string, pattern: '^\\d{4}-\\d{2}$'}}
        - {name: department, in: query, schema: {type: string}}
      responses:
        200: {content: {application/json: {schema: {type: array, items: {type: object}}}}}
        403, 422: problem
    """
    query = load(PeriodQuery, request.args.to_dict())
    with store().reading() as uow:
        period = kpi.parse_period(query["period"], _timezone())
        return jsonify(kpi.kpi_report(uow, actor(), period, query.get("department")))


@bp.post("/payroll-runs")
def create_payroll_run():
    """Calculate a draft payroll run for a period.
    ---
    post:
      requestBody: {content: {application/json: {schema: PayrollRunRequest}}}
      responses:
        201: {content: {application/json: {schema: {type: object}}}}
        403, 409, 422: problem
    """
    body = load(PayrollRunRequest)
    with store().writing() as uow:
        run = payroll_runs.create_run(uow, actor(), body["period"], _timezone())
        return jsonify(payroll_runs.run_view(uow, run)), 201


@bp.get("/payroll-runs/<int:run_id>")
def get_payroll_run(run_id: int):
    """A payroll run with its lines and totals.
    ---
    get:
      parameters: [{name: run_id, in: path, required: true, schema: {type: integer}}]
      responses:
        200: {content: {application/json: {schema: {type: object}}}}
        403, 404: problem
    """
    with store().reading() as uow:
        return jsonify(payroll_runs.run_view(uow, payroll_runs.get_run(uow, actor(), run_id)))


@bp.post("/payroll-runs/<int:run_id>/recalculate")
def recalculate_payroll_run(run_id: int):
    """Recalculate a draft run (409 once final).
    ---
    post:
      parameters: [{name: run_id, in: path, required: true, schema: {type: integer}}]
      responses:
        200: {content: {application/json: {schema: {type: object}}}}
        403, 404, 409: problem
    """
    with store().writing() as uow:
        run = payroll_runs.recalculate(uow, actor(), run_id, _timezone())
        return jsonify(payroll_runs.run_view(uow, run))


@bp.post("/payroll-runs/<int:run_id>/finalize")
def finalize_payroll_run(run_id: int):
    """Finalise a run; after that it never changes (409).
    ---
    post:
      parameters: [{name: run_id, in: path, required: true, schema: {type: integer}}]
      responses:
        200: {content: {application/json: {schema: {type: object}}}}
        403, 404, 409: problem
    """
    with store().writing() as uow:
        run = payroll_runs.finalize(uow, actor(), run_id)
        return jsonify(payroll_runs.run_view(uow, run))


@bp.get("/payroll-runs/<int:run_id>/export")
def export_payroll_run(run_id: int):
    """The run as CSV (formula-safe) or XLSX.
    ---
    get:
      parameters:
        - {name: run_id, in: path, required: true, schema: {type: integer}}
        - {name: format, in: query, schema: {type: string, enum: [csv, xlsx]}}
      responses:
        200: {content: {text/csv: {schema: {type: string}}}}
        403, 404, 422: problem
    """
    file_format = load(ExportQuery, request.args.to_dict())["format"]
    with store().reading() as uow:
        run = payroll_runs.get_run(uow, actor(), run_id)
        if file_format == "xlsx":
            body, mimetype = exports.to_xlsx(uow, run), \
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        else:
            body, mimetype = exports.to_csv(uow, run), "text/csv; charset=utf-8"
    filename = f"payroll-{run.period}-run{run.id}.{file_format}"
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/payroll-runs/<int:run_id>/payslips/<username>")
def payslip(run_id: int, username: str):
    """A payslip with each indicator and the events behind every figure.
    ---
    get:
      parameters:
        - {name: run_id, in: path, required: true, schema: {type: integer}}
        - {name: username, in: path, required: true, schema: {type: string}}
      responses:
        200: {content: {application/json: {schema: {type: object}}}}
        403, 404: problem
    """
    with store().reading() as uow:
        return jsonify(payslips.payslip(uow, actor(), run_id, username, _timezone()))


@bp.post("/events/<int:event_id>/corrections")
def correct_event(event_id: int):
    """Correct a completion's recorded data (head of its department, a manager above, admin).
    ---
    post:
      parameters: [{name: event_id, in: path, required: true, schema: {type: integer}}]
      requestBody: {content: {application/json: {schema: CorrectionRequest}}}
      responses:
        201: {content: {application/json: {schema: {type: object}}}}
        403, 404, 422: problem
    """
    body = load(CorrectionRequest)
    with store().writing() as uow:
        event = corrections.correct_event(uow, actor(), event_id, body["data"], body["reason"])
        view = event_view(event)
    return jsonify({**view, "corrects_event_id": event.corrects_event_id, "reason": event.reason,
                    "recorded_by": event.recorded_by}), 201


@bp.get("/reports/department-ranking")
def department_ranking():
    """Completion and on-time rates per department, ranked.
    ---
    get:
      parameters: [{name: period, in: query, required: true, schema: {type: string}}]
      responses:
        200: {content: {application/json: {schema: {type: array, items: {type: object}}}}}
        403, 422: problem
    """
    query = load(PeriodQuery, request.args.to_dict())
    with store().reading() as uow:
        period = kpi.parse_period(query["period"], _timezone())
        return jsonify(reports.department_ranking(uow, actor(), period))


@bp.get("/reports/employees/<username>")
def employee_report(username: str):
    """One employee's duties in a period, with the evidence.
    ---
    get:
      parameters:
        - {name: username, in: path, required: true, schema: {type: string}}
        - {name: period, in: query, required: true, schema: {type: string}}
      responses:
        200: {content: {application/json: {schema: {type: object}}}}
        403, 422: problem
    """
    query = load(PeriodQuery, request.args.to_dict())
    with store().reading() as uow:
        period = kpi.parse_period(query["period"], _timezone())
        return jsonify(reports.employee_report(uow, actor(), username, period))


@bp.get("/reports/trend")
def trend():
    """Completions and on-time rate per department per week or month (before/after analysis),
    in the configured time zone; buckets without completions are left out.
    ---
    get:
      parameters:
        - {name: from, in: query, required: true, schema: {type: string, format: date}}
        - {name: to, in: query, required: true, schema: {type: string, format: date}}
        - {name: granularity, in: query, schema: {type: string, enum: [week, month]}}
      responses:
        200: {content: {application/json: {schema: {type: array, items: {type: object}}}}}
        403, 422: problem
    """
    query = load(TrendQuery, request.args.to_dict())
    with store().reading() as uow:
        return jsonify(reports.trend(uow, actor(), query["from_"], query["to"], query["granularity"],
                                     _timezone()))
