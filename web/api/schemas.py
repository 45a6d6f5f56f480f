"""Request and response schemas; the OpenAPI document is generated from these."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_dump, validate

from engine.model import InstanceStatus
from services.identity import audit
from services.persistence import idempotency

from . import MAX_ID


def in_utc_range(value: dt.datetime) -> None:
    """Near year 1 or 9999 an offset can push a date-time outside what UTC (and so the
    database, which stores UTC) can hold; refuse it here rather than overflow there."""
    try:
        value.astimezone(dt.timezone.utc)
    except OverflowError:
        raise ValidationError("Out of range once converted to UTC.") from None


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class Shape(Schema):
    """A response. Dumping what a view returns through it must change nothing: a key it
    does not declare, or a value it would convert, is a bug in the view or the schema (a
    500 the route's tests show), never silently dropped or documented wrongly."""

    @post_dump(pass_original=True)
    def unchanged(self, data: dict, original, **kwargs) -> dict:
        if isinstance(original, Mapping):
            names = {declared.data_key or name: name for name, declared in self.dump_fields.items()}
            undeclared = sorted(original.keys() - {names[key] for key in data})
            converted = sorted(names[key] for key in data
                               if _converted(data[key], original[names[key]]))
            if undeclared or converted:
                raise TypeError(f"{type(self).__name__}: undeclared {undeclared}, "
                                f"converted {converted}")
        return data


def _converted(dumped, original) -> bool:
    """Whether dumping changed the value's JSON: a str subclass (a StrEnum status) dumps as
    the same text, but an int as a str, or a bool as an int, would not."""
    return (not isinstance(original, type(dumped))
            or isinstance(original, bool) != isinstance(dumped, bool))


class TokenRequest(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class TokenResponse(Shape):
    token = fields.String()
    expires_at = fields.String()


class Problem(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Raw()
    request_id = fields.String(metadata={"description": "The request's X-Request-Id: quote it "
                                                        "when reporting a problem."})


class Definition(Shape):
    key = fields.String()
    version = fields.Integer()
    name = fields.String(allow_none=True)
    deployed_at = fields.String()


class Located(Shape):
    """A finding located in a file: what deploys but does not run as drawn."""
    file = fields.String()
    line = fields.Integer(allow_none=True)
    element_id = fields.String(allow_none=True)
    message = fields.String()


class DeployedDecision(Shape):
    """A DMN decision deployed with the diagram: business rule tasks call it by `id`."""
    id = fields.String()
    name = fields.String()
    file = fields.String()


class DeployedForm(Shape):
    """A Camunda Form (.form file, or one embedded in the diagram) and the user tasks and
    start events that show it."""
    file = fields.String()
    id = fields.String(allow_none=True)
    elements = fields.List(fields.String())


class Deployment(Definition):
    """The first process of the deployment; `processes` lists all of them when there are
    several; `warnings` what deploys but does not run as drawn (Java delegates wait for
    workers); `decisions` the DMN decisions deployed with them; `forms` the Camunda Forms
    its elements show."""
    processes = fields.List(fields.Nested(Definition))
    warnings = fields.List(fields.Nested(Located))
    decisions = fields.List(fields.Nested(DeployedDecision))
    forms = fields.List(fields.Nested(DeployedForm))


class DeployUpload(Schema):
    file = fields.List(fields.Raw(metadata={"type": "string", "format": "binary"}),
                       required=True, metadata={
                           "description": "the BPMN file; repeat the part for several BPMN "
                                          "files and the DMN files their business rule tasks "
                                          "call, deployed together"})
    default_department = fields.String(metadata={
        "description": "the key of the department that owns user tasks with neither lane, "
                       "candidate group nor assignee (diagrams from other tools)"})


class Task(Shape):
    id = fields.String()
    name = fields.String()
    element_id = fields.String()
    process_instance_id = fields.Integer()
    process_key = fields.String()
    lane = fields.String(allow_none=True)
    department = fields.String(allow_none=True)
    assignee = fields.String(allow_none=True, metadata={
        "description": "Whom the task is for: routed by camunda:assignee, claimed, assigned "
                       "or transferred"})
    candidate_users = fields.List(fields.String(), metadata={
        "description": "camunda:candidateUsers as resolved; when set, only they may claim it"})
    candidate_departments = fields.List(fields.String(), metadata={
        "description": "the departments its candidate groups route to (literal, or given by "
                       "an expression when it became ready); their members may do it too"})
    created_at = fields.String()
    due_at = fields.String(allow_none=True)
    status = fields.String()


class TaskProperty(Shape):
    name = fields.String()
    value = fields.String()


class TaskDetail(Task):
    form = fields.Dict()
    properties = fields.List(fields.Nested(TaskProperty), metadata={
        "description": "the task's camunda:properties (zeebe:properties), as drawn"})
    variables = fields.Dict(metadata={
        "description": "the task's local variables (its input parameters, camunda:inputOutput "
                       "or zeebe:ioMapping) as it became ready"})


class StartRequest(StrictSchema):
    process_key = fields.String(required=True, validate=validate.Length(min=1, max=200))
    business_key = fields.String(allow_none=True, validate=validate.Length(max=200))
    data = fields.Dict(keys=fields.String(), load_default=dict)


class Event(Shape):
    """A completion (services.workflow.views.event_view)."""
    id = fields.Integer()
    task_id = fields.String(allow_none=True)
    element_id = fields.String()
    name = fields.String(allow_none=True)
    lane = fields.String(allow_none=True)
    department = fields.String(allow_none=True)
    completed_by = fields.String(allow_none=True)
    ready_at = fields.String(allow_none=True)
    claimed_at = fields.String(allow_none=True)
    completed_at = fields.String(allow_none=True)
    due_at = fields.String(allow_none=True)
    data = fields.Dict()


class Timer(Shape):
    id = fields.String()
    element_id = fields.String()
    name = fields.String(allow_none=True)
    due_at = fields.String(allow_none=True)


class Action(Shape):
    """What a person did to the instance itself (withdraw, cancel, suspend, resume,
    data_fix, retry, move), with who, when and why; never a completion."""
    id = fields.Integer()
    kind = fields.String()
    actor = fields.String()
    reason = fields.String()
    status_before = fields.String()
    status_after = fields.String()
    details = fields.Dict()
    at = fields.String()


class CallerLink(Shape):
    """The instance whose call activity started this one."""
    id = fields.Integer()
    process_key = fields.String()
    status = fields.String()
    element_id = fields.String(metadata={"description": "The call activity"})


class ChildLink(Shape):
    """An instance started by one of this instance's call activities."""
    id = fields.Integer()
    process_key = fields.String()
    version = fields.Integer()
    status = fields.String()
    element_id = fields.String(metadata={"description": "The call activity that started it"})
    business_key = fields.String(allow_none=True)


class Instance(Shape):
    id = fields.Integer()
    process_key = fields.String()
    version = fields.Integer()
    parent = fields.Nested(CallerLink, allow_none=True, metadata={
        "description": "Set on a child instance started by a call activity"})
    children = fields.List(fields.Nested(ChildLink), metadata={
        "description": "Child instances started by its call activities, oldest first"})
    business_key = fields.String(allow_none=True)
    status = fields.String()
    error = fields.String(allow_none=True)
    data = fields.Dict()
    started_by = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True)
    updated_at = fields.String(allow_none=True)
    archived_at = fields.String(allow_none=True, metadata={
        "description": "Set once its working rows were archived (`dutyflow archive`)"})
    tasks = fields.List(fields.Nested(Task))
    history = fields.List(fields.Nested(Event))
    actions = fields.List(fields.Nested(Action))
    timers = fields.List(fields.Nested(Timer))


class Completion(Shape):
    """The instance after a completion: its status and the tasks now ready."""
    id = fields.Integer()
    status = fields.String()
    error = fields.String(allow_none=True)
    tasks = fields.List(fields.Nested(Task))


class InstanceQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.String(validate=validate.OneOf([status.value for status in InstanceStatus]))
    process_key = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))


class ReasonRequest(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class RetryRequest(ReasonRequest):
    version = fields.Integer(validate=validate.Range(min=1, max=MAX_ID), metadata={
        "description": "run on this version of the process from now on (a fixed diagram "
                       "deployed since); default: its own"})


class DataFixRequest(ReasonRequest):
    set = fields.Dict(keys=fields.String(), load_default=dict,
                      metadata={"description": "process variables to set"})
    unset = fields.List(fields.String(validate=validate.Length(min=1, max=200)),
                        load_default=list, validate=validate.Length(max=200),
                        metadata={"description": "process variables to remove"})


class MoveRequest(ReasonRequest):
    from_ = fields.String(required=True, data_key="from",  # `from` is a Python keyword
                          validate=validate.Length(min=1, max=200),
                          metadata={"description": "element id of the activity to leave"})
    to = fields.String(required=True, validate=validate.Length(min=1, max=200),
                       metadata={"description": "element id of the activity to start"})


class MessageRequest(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    business_key = fields.String(validate=validate.Length(min=1, max=200))
    correlation = fields.Dict(keys=fields.String(), metadata={
        "description": "process variables the waiting instance must hold, {name: value}"})
    data = fields.Dict(keys=fields.String(), load_default=dict,
                       metadata={"description": "process variables the message sets"})
    message_id = fields.String(validate=validate.Length(min=1, max=200), metadata={
        "description": "sent again, the same id gets the first answer and moves nothing"})
    all = fields.Boolean(load_default=False,
                         metadata={"description": "move every matching instance"})


class SignalRequest(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    data = fields.Dict(keys=fields.String(), load_default=dict)


class MessageResult(Shape):
    name = fields.String()
    message_id = fields.String(allow_none=True)
    instances = fields.List(fields.Integer(), metadata={"description": "the instances moved"})


class SignalResult(Shape):
    name = fields.String()
    instances = fields.List(fields.Integer(), metadata={"description": "the instances reached"})


class IncidentQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    process_key = fields.String(validate=validate.Length(max=200))
    element_id = fields.String(validate=validate.Length(max=200))
    instance_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    status = fields.String(validate=validate.OneOf(["open", "resolved"]))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))


class Incident(Shape):
    """A failed step: where, why, the process data then, and when it was resolved."""
    id = fields.Integer()
    process_instance_id = fields.Integer(allow_none=True)
    process_key = fields.String()
    element_id = fields.String(allow_none=True)
    kind = fields.String(metadata={"description": "error (the diagram's code failed) or "
                                                  "aborted (its worker was stopped)"})
    message = fields.String()
    data = fields.Dict(allow_none=True)
    created_at = fields.String()
    resolved_at = fields.String(allow_none=True)


class TaskListQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    scope = fields.String(load_default="mine", validate=validate.OneOf(["mine", "department", "all"]))
    status = fields.String(load_default="ready", validate=validate.OneOf(["ready", "completed"]))
    process_key = fields.String(validate=validate.Length(max=200))
    due_before = fields.AwareDateTime(default_timezone=None, validate=in_utc_range)
    due_after = fields.AwareDateTime(default_timezone=None, validate=in_utc_range)
    assignee = fields.String(validate=validate.Length(max=64))
    unassigned = fields.Boolean(load_default=False)
    sort = fields.String(load_default="due_at", validate=validate.OneOf(["due_at", "created_at"]))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    cursor = fields.String(validate=validate.Length(max=500),
                           metadata={"description": "from X-Next-Cursor"})


class TaskPageHeaders(Shape):
    next_cursor = fields.String(data_key="X-Next-Cursor",
                                metadata={"description": "the `cursor` of the next page"})
    link = fields.String(data_key="Link", metadata={"description": 'the next page, rel="next"'})


class CompleteRequest(StrictSchema):
    data = fields.Dict(keys=fields.String(), load_default=dict)


def _idempotency_key(key: str) -> None:
    if not idempotency.is_valid_key(key):
        raise ValidationError(idempotency.KEY_RULE)


class CompleteHeaders(Schema):
    class Meta:
        unknown = EXCLUDE

    idempotency_key = fields.String(
        data_key=idempotency.HEADER, validate=_idempotency_key,
        metadata={"description": "Any unique string (a UUID), 1 to "
                  f"{idempotency.MAX_KEY_LENGTH} printable ASCII characters. A retry with "
                  "the same key and the same request gets the first success again, with "
                  "Idempotent-Replayed: true, instead of completing twice; the same key on "
                  "another request is a 422. Kept for 24 hours."})


class ReplayHeaders(Shape):
    replayed = fields.String(
        data_key="Idempotent-Replayed", validate=validate.Equal("true"),
        metadata={"enum": ["true"], "description": "this is the stored answer to an earlier "
                  "request with the same key (Idempotency-Key, or a message's message_id)"})


class AssignRequest(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))


class TransferRequest(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class TaskHandover(Shape):
    """One entry of a task's history: an assignment, a transfer, or a move to another
    department's inbox by an org import (`rerouted`: `from_username` is the assignee it
    was taken from, if any; `reason` names the import and the departments)."""
    id = fields.Integer()
    at = fields.String()
    actor = fields.String()
    action = fields.String(metadata={"enum": ["assigned", "transferred", "rerouted"]})
    from_username = fields.String(allow_none=True)
    to_username = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


# `from` is a Python keyword: these two are built from dicts to keep it as the field name.
AbsenceRequest = StrictSchema.from_dict({
    "from": fields.AwareDateTime(required=True, default_timezone=None, validate=in_utc_range),
    "to": fields.AwareDateTime(required=True, default_timezone=None, validate=in_utc_range),
    "substitute": fields.String(required=True, validate=validate.Length(min=1, max=64)),
}, name="AbsenceRequest")

Absence = Shape.from_dict({
    "username": fields.String(), "from": fields.String(), "to": fields.String(),
    "substitute": fields.String(), "set_by": fields.String(), "set_at": fields.String(),
}, name="Absence")


class CommentRequest(StrictSchema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class Comment(Shape):
    id = fields.Integer()
    author = fields.String()
    text = fields.String()
    created_at = fields.String()


class KpiIndicator(Schema):
    metric = fields.String(required=True)
    weight = fields.Raw(required=True, metadata={"type": "number"})
    target = fields.Raw(required=True, metadata={"type": "number"})
    task = fields.String()
    process_key = fields.String()
    field = fields.String()
    value = fields.String()


class KpiSchemeRequest(Schema):
    cap = fields.Raw(metadata={"type": "number"})
    effective_from = fields.String(metadata={"pattern": r"^\d{4}-\d{2}$"})
    indicators = fields.List(fields.Nested(KpiIndicator), required=True)


class WhatIfRequest(Schema):
    scheme = fields.Nested(KpiSchemeRequest, required=True)
    periods = fields.List(fields.String(validate=validate.Regexp(r"^\d{4}-\d{2}$")),
                          required=True, validate=validate.Length(min=1, max=36))


class PayrollRunRequest(StrictSchema):
    period = fields.String(required=True, validate=validate.Regexp(r"^\d{4}-\d{2}$"))


class PeriodQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    period = fields.String(required=True, validate=validate.Regexp(r"^\d{4}-\d{2}$"))
    department = fields.String(validate=validate.Length(max=64))


class TrendQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    from_ = fields.Date(required=True, data_key="from")  # `from` is a Python keyword
    to = fields.Date(required=True)
    granularity = fields.String(load_default="week", validate=validate.OneOf(["week", "month"]))


class ExportQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


class PayrollExportRequest(StrictSchema):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


class PayrollExport(Shape):
    """An export made by a background job; poll it until `status` is ready (or failed)."""
    id = fields.Integer()
    run_id = fields.Integer()
    format = fields.String(metadata={"enum": ["csv", "xlsx"]})
    status = fields.String(metadata={"enum": ["queued", "ready", "failed"]})
    requested_by = fields.String()
    requested_at = fields.String()
    finished_at = fields.String(allow_none=True)
    filename = fields.String(allow_none=True)
    size = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    file_url = fields.String(allow_none=True,
                             metadata={"description": "the file, once status is ready"})


class JobHeaders(Shape):
    location = fields.String(data_key="Location",
                             metadata={"description": "the job resource to poll"})


class AuditQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    entity = fields.String(validate=validate.OneOf(audit.ENTITIES))
    key = fields.String(validate=validate.Length(min=1, max=100),
                        metadata={"description": "department key, run id, username or import id"})
    before = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))  # an audit entry id
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class CorrectionRequest(StrictSchema):
    data = fields.Dict(keys=fields.String(), required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class Correction(Event):
    corrects_event_id = fields.Integer()
    reason = fields.String()
    recorded_by = fields.String()


class Department(Shape):
    key = fields.String()
    name = fields.String()
    parent = fields.String(allow_none=True)
    head = fields.String(allow_none=True)
    lanes = fields.List(fields.String())
    duties = fields.List(fields.String())


class Employee(Shape):
    """`base_salary` and `bonus_base` only for HR and admins."""
    username = fields.String()
    name = fields.String()
    department = fields.String(allow_none=True)
    position = fields.String(allow_none=True)
    manager = fields.String(allow_none=True)
    roles = fields.List(fields.String())
    base_salary = fields.String()
    bonus_base = fields.String()


class DepartmentName(Shape):
    key = fields.String()
    name = fields.String()


class DutyStep(Shape):
    process_key = fields.String()
    element_id = fields.String()
    name = fields.String(allow_none=True)
    lane = fields.String(allow_none=True)
    owners = fields.List(fields.String())
    completions = fields.Integer()
    done_by = fields.Dict(keys=fields.String(), values=fields.String(),
                          metadata={"description": "department key -> share of completions"})
    overlap = fields.Boolean()


class DutyMatrix(Shape):
    departments = fields.List(fields.Nested(DepartmentName))
    steps = fields.List(fields.Nested(DutyStep))
    overlaps = fields.List(fields.Nested(DutyStep))


class SchemeIndicator(Shape):
    """An indicator as a stored scheme holds it (numbers as decimal strings)."""
    metric = fields.String()
    weight = fields.String()
    target = fields.String()
    task = fields.String()
    process_key = fields.String()
    field = fields.String()
    value = fields.String()


class ScoredIndicator(SchemeIndicator):
    key = fields.String()
    actual = fields.String(allow_none=True)
    score = fields.String(allow_none=True)
    applicable = fields.Boolean()


class KpiScheme(Shape):
    department = fields.String()
    version = fields.Integer()
    cap = fields.String()
    effective_from = fields.String()
    indicators = fields.List(fields.Nested(SchemeIndicator))
    created_at = fields.String()
    created_by = fields.String(allow_none=True)


class KpiRow(Shape):
    username = fields.String()
    name = fields.String()
    department = fields.String(allow_none=True)
    scheme_version = fields.Integer(allow_none=True)
    kpi_score = fields.String()
    indicators = fields.List(fields.Nested(ScoredIndicator))
    flags = fields.List(fields.String())


class PayLine(Shape):
    username = fields.String()
    department = fields.String(allow_none=True)
    base_salary = fields.String()
    kpi_score = fields.String()
    bonus = fields.String()
    adjustments = fields.String()
    gross = fields.String()
    scheme_version = fields.Integer(allow_none=True)
    flags = fields.List(fields.String())


class PayTotals(Shape):
    employees = fields.Integer()
    base_salary = fields.String()
    bonus = fields.String()
    adjustments = fields.String()
    gross = fields.String()


class PayrollRun(Shape):
    id = fields.Integer()
    period = fields.String()
    status = fields.String()
    scheme_versions = fields.Dict(keys=fields.String(), values=fields.Integer())
    created_by = fields.String(allow_none=True)
    finalized_at = fields.String(allow_none=True)
    finalized_by = fields.String(allow_none=True)
    prepared_by = fields.String(allow_none=True)
    prepared_at = fields.String(allow_none=True)
    approved_by = fields.String(allow_none=True)
    approved_at = fields.String(allow_none=True)
    rejected_by = fields.String(allow_none=True)
    rejected_at = fields.String(allow_none=True)
    rejection_reason = fields.String(allow_none=True)
    lines = fields.List(fields.Nested(PayLine))
    totals = fields.Nested(PayTotals)


class Evidence(Shape):
    """One completion behind a figure, with its data as corrected."""
    event_id = fields.Integer()
    process_instance_id = fields.Integer()
    process_key = fields.String()
    task_id = fields.String(metadata={"description": "the task completed: its attached files "
                                                    "are at /tasks/{task_id}/files/{sha256}"})
    task = fields.String()
    name = fields.String(allow_none=True)
    department = fields.String(allow_none=True)
    ready_at = fields.String(allow_none=True)
    completed_at = fields.String(allow_none=True)
    due_at = fields.String(allow_none=True)
    on_time = fields.Boolean(allow_none=True)
    escalated = fields.Boolean()
    data = fields.Dict()
    corrected = fields.Boolean()


class EvidenceEscalation(Shape):
    """Who was told that a task was late: the head of `department`, at `level` (1: the
    task's own department, 2: its parent, ...)."""
    level = fields.Integer()
    department = fields.String()
    notified = fields.String(allow_none=True)
    at = fields.String()


class PayEvidence(Evidence):
    counts_for = fields.List(fields.String(), metadata={"description": "indicator keys"})
    for_other_department = fields.Boolean()
    escalations = fields.List(fields.Nested(EvidenceEscalation),
                              metadata={"description": "the task's escalations before it "
                                        "was completed (empty when `escalated` is false)"})


class RunSummary(Shape):
    id = fields.Integer()
    period = fields.String()
    status = fields.String()


class Adjustment(Shape):
    amount = fields.String()
    source_period = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


class Payslip(Shape):
    run = fields.Nested(RunSummary)
    line = fields.Nested(PayLine)
    bonus_base = fields.String()
    indicators = fields.List(fields.Nested(ScoredIndicator))
    evidence = fields.List(fields.Nested(PayEvidence))
    evidence_total = fields.Integer()
    other_total = fields.Integer()
    other_departments = fields.List(fields.Nested(PayEvidence))
    adjustments = fields.List(fields.Nested(Adjustment))


class RankingRow(Shape):
    rank = fields.Integer()
    department = fields.String()
    name = fields.String()
    tasks_due = fields.Integer()
    completed = fields.Integer()
    completion_rate = fields.String(allow_none=True)
    on_time_rate = fields.String(allow_none=True)


class EmployeeReport(Shape):
    username = fields.String()
    period = fields.String()
    completed = fields.Integer()
    on_time_rate = fields.String(allow_none=True)
    events = fields.List(fields.Nested(Evidence))


class TrendRow(Shape):
    department = fields.String(allow_none=True)
    bucket = fields.String(metadata={"description": "the week's Monday, or YYYY-MM"})
    completed = fields.Integer()
    on_time_rate = fields.String(allow_none=True)


class AuditEntry(Shape):
    id = fields.Integer()
    at = fields.String()
    actor = fields.String(allow_none=True)
    entity = fields.String()
    key = fields.String()
    action = fields.String()
    old = fields.Raw(allow_none=True)
    new = fields.Raw(allow_none=True)


# External tasks, in Camunda 7's REST shape (camelCase), so existing workers and client
# libraries fit. Unknown keys are ignored as Camunda ignores them (clients send options
# such as usePriority or asyncResponseTimeout that change nothing here).
_LOCK_MS = validate.Range(min=1, max=86_400_000)


class TypedValue(Schema):
    class Meta:
        unknown = EXCLUDE

    value = fields.Raw(required=True, allow_none=True)
    type = fields.String(validate=validate.Length(max=50))


class FetchTopic(Schema):
    class Meta:
        unknown = EXCLUDE

    topicName = fields.String(required=True, validate=validate.Length(min=1, max=200))
    lockDuration = fields.Integer(required=True, validate=_LOCK_MS,
                                  metadata={"description": "milliseconds"})
    variables = fields.List(fields.String(), validate=validate.Length(max=100), metadata={
        "description": "only these process variables (all when absent)"})


class FetchAndLockRequest(Schema):
    class Meta:
        unknown = EXCLUDE

    workerId = fields.String(required=True, validate=validate.Length(min=1, max=200))
    maxTasks = fields.Integer(required=True, validate=validate.Range(min=1, max=100))
    topics = fields.List(fields.Nested(FetchTopic), required=True,
                         validate=validate.Length(min=1, max=50))


class LockedExternalTask(Shape):
    id = fields.String()
    topicName = fields.String()
    workerId = fields.String()
    processInstanceId = fields.String()
    processDefinitionKey = fields.String()
    activityId = fields.String()
    businessKey = fields.String(allow_none=True)
    lockExpirationTime = fields.String()
    retries = fields.Integer(allow_none=True)
    errorMessage = fields.String(allow_none=True)
    variables = fields.Dict(keys=fields.String(), values=fields.Nested(TypedValue))


class ExternalCompleteRequest(Schema):
    class Meta:
        unknown = EXCLUDE

    workerId = fields.String(required=True, validate=validate.Length(min=1, max=200))
    variables = fields.Dict(keys=fields.String(), values=fields.Nested(TypedValue),
                            load_default=dict)


class ExternalFailureRequest(Schema):
    class Meta:
        unknown = EXCLUDE

    workerId = fields.String(required=True, validate=validate.Length(min=1, max=200))
    errorMessage = fields.String(load_default="", validate=validate.Length(max=4000))
    retries = fields.Integer(required=True, validate=validate.Range(min=0, max=1000))
    retryTimeout = fields.Integer(load_default=0, validate=validate.Range(min=0, max=86_400_000),
                                  metadata={"description": "milliseconds"})


class ExtendLockRequest(Schema):
    class Meta:
        unknown = EXCLUDE

    workerId = fields.String(required=True, validate=validate.Length(min=1, max=200))
    newDuration = fields.Integer(required=True, validate=_LOCK_MS,
                                 metadata={"description": "milliseconds"})


class RetriesRequest(StrictSchema):
    retries = fields.Integer(required=True, validate=validate.Range(min=0, max=1000))


class NotificationListQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    before = fields.Integer(validate=validate.Range(min=1, max=MAX_ID),
                            metadata={"description": "a notification id: the page before it"})
    unread = fields.Boolean(load_default=False, metadata={"description": "only unread ones"})


class NotificationItem(Shape):
    """Title and text in the recipient's language (their org file `locale`)."""
    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    text = fields.String()
    url = fields.String()
    task_id = fields.String(allow_none=True)
    process_instance_id = fields.Integer(allow_none=True)
    payroll_run_id = fields.Integer(allow_none=True)
    data = fields.Dict()
    created_at = fields.String()
    read_at = fields.String(allow_none=True)


class NotificationList(Shape):
    unread = fields.Integer()
    notifications = fields.List(fields.Nested(NotificationItem))


class MarkReadRequest(StrictSchema):
    ids = fields.List(fields.Integer(validate=validate.Range(min=1, max=MAX_ID)), required=True,
                      validate=validate.Length(min=1, max=500))


class UnreadCount(Shape):
    unread = fields.Integer()


class DeliveryQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.String(validate=validate.OneOf(["pending", "sending", "sent", "failed"]))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class DeliveryItem(Shape):
    """`target`: an email address, or the department key of a webhook or robot."""
    id = fields.String()
    notification_id = fields.Integer(allow_none=True)
    channel = fields.String()
    target = fields.String()
    kind = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    next_attempt_at = fields.String(allow_none=True)
    created_at = fields.String()
    sent_at = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)


class NotificationSettings(Shape):
    app = fields.Boolean()
    email = fields.Boolean()
    department_tasks = fields.Boolean()
    email_address = fields.String(allow_none=True, metadata={"description": "from the org file"})


class NotificationSettingsRequest(StrictSchema):
    app = fields.Boolean()
    email = fields.Boolean()
    department_tasks = fields.Boolean()


class OrgUpload(Schema):
    file = fields.Raw(metadata={"type": "string", "format": "binary", "description":
                                "the org file: YAML (.yaml, .yml), xlsx or CSV, by its name"},
                      required=True)
    revision = fields.String(metadata={
        "description": "import only: the preview's `revision`; refused with 409 when the org "
                       "changed since that preview"})


class OrgFileQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    format = fields.String(load_default="xlsx", validate=validate.OneOf(["xlsx", "csv", "yaml"]))


class DepartmentRef(Shape):
    key = fields.String()
    name = fields.String()


class Inbox(Shape):
    department = fields.Nested(DepartmentRef, allow_none=True, metadata={
        "description": "the department whose inbox lists the task (none: routed to nobody)"})
    candidates = fields.List(fields.Nested(DepartmentRef), metadata={
        "description": "the candidate-group departments, who may also do it"})


class OrgChanges(Shape):
    created = fields.List(fields.String())
    deactivated = fields.List(fields.String())


class PreviewStep(Shape):
    process_key = fields.String()
    version = fields.Integer()
    element_id = fields.String()
    name = fields.String()
    lane = fields.String(allow_none=True)
    candidate_groups = fields.List(fields.String())
    before = fields.Nested(Inbox)
    after = fields.Nested(Inbox)
    moves = fields.Boolean()


class PreviewTask(Shape):
    id = fields.String()
    name = fields.String()
    process_key = fields.String()
    process_instance_id = fields.Integer()
    assignee = fields.String(allow_none=True)
    unassigned = fields.Boolean(metadata={
        "description": "its assignee belongs to no department owning it after the import: "
                       "it goes back to the new department's pool"})
    due_at = fields.String(allow_none=True)
    before = fields.Nested(Inbox)
    after = fields.Nested(Inbox)


class PreviewOrphan(Shape):
    process_key = fields.String()
    version = fields.Integer()
    element_id = fields.String()
    name = fields.String()
    owner = fields.String(metadata={"description": "the lane or candidate group name"})


class NextScheme(Shape):
    department = fields.String()
    version = fields.Integer()
    effective_from = fields.String(allow_none=True)
    indicators = fields.List(fields.Dict())


class PreviewPerson(Shape):
    username = fields.String()
    name = fields.String()
    before = fields.Nested(DepartmentRef)
    after = fields.Nested(DepartmentRef)
    scheme = fields.Nested(NextScheme, allow_none=True, metadata={
        "description": "the KPI scheme that would score them next (none: the department has none)"})


class OrgPreview(Shape):
    file = fields.String()
    revision = fields.String(metadata={"description": "send it with the import to apply "
                                                      "exactly what was previewed"})
    period = fields.String(metadata={"description": "the period the schemes are those of"})
    refused = fields.Boolean(metadata={"description": "the import would be refused (orphans)"})
    departments = fields.Nested(OrgChanges)
    employees = fields.Nested(OrgChanges)
    steps = fields.List(fields.Nested(PreviewStep))
    moved_tasks = fields.List(fields.Nested(PreviewTask))
    orphans = fields.List(fields.Nested(PreviewOrphan))
    people = fields.List(fields.Nested(PreviewPerson))


class OrgImported(Shape):
    import_id = fields.String()
    created = fields.Integer()
    updated = fields.Integer()
    deactivated = fields.Integer()
    moved_tasks = fields.Integer()


class MigrationRequest(StrictSchema):
    process_key = fields.String(required=True, validate=validate.Length(min=1, max=200))
    from_version = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_ID))
    to_version = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_ID))
    instance_ids = fields.List(fields.Integer(validate=validate.Range(min=1, max=MAX_ID)),
                               validate=validate.Length(min=1, max=10_000), metadata={
                                   "description": "only these instances (default: every "
                                                  "running, suspended or errored one)"})
    mapping = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=200)),
                          values=fields.String(validate=validate.Length(min=1, max=200)),
                          load_default=dict, validate=validate.Length(max=1000), metadata={
                              "description": "{old element id: new element id} for active "
                                             "elements the new version names otherwise"})
    dry_run = fields.Boolean(load_default=True, metadata={
        "description": "true (default): answer the plan and change nothing; false: record "
                       "the migration and run it (202)"})
    reason = fields.String(validate=validate.Length(min=1, max=2000), metadata={
        "description": "why (required when dry_run is false)"})


class DutyChange(Shape):
    """One step of either version: who does it before and after."""
    element_before = fields.String(allow_none=True)
    element_after = fields.String(allow_none=True)
    name_before = fields.String(allow_none=True)
    name_after = fields.String(allow_none=True)
    departments_before = fields.List(fields.String())
    departments_after = fields.List(fields.String())
    form_changed = fields.Boolean()
    fields_added = fields.List(fields.String())
    deadline_before = fields.String(allow_none=True)
    deadline_after = fields.String(allow_none=True)
    change = fields.String(validate=validate.OneOf(["same", "changed", "added", "removed"]))


class ElementMapped(Shape):
    """An active element and the element of the new version it maps to."""
    element_before = fields.String()
    element_after = fields.String()


class OpenTaskChange(Shape):
    """An open task whose owning department, form or deadline changes."""
    task_id = fields.String()
    element_id = fields.String()
    element_after = fields.String()
    department_before = fields.String(allow_none=True)
    department_after = fields.String(allow_none=True)
    form_changed = fields.Boolean()
    fields_added = fields.List(fields.String())
    deadline_before = fields.String(allow_none=True)
    deadline_after = fields.String(allow_none=True)


class TimerPlan(Shape):
    timer_id = fields.String()
    element_id = fields.String()
    element_after = fields.String()
    due_at = fields.String(allow_none=True)
    replanned = fields.Boolean(metadata={"description": "its timer changed: planned again"})


class InstancePlan(Shape):
    instance_id = fields.Integer()
    status = fields.String()
    business_key = fields.String(allow_none=True)
    migratable = fields.Boolean()
    mapped = fields.List(fields.Nested(ElementMapped))
    left_out = fields.List(fields.String(), metadata={
        "description": "why it cannot be migrated (empty when it can)"})
    tasks = fields.List(fields.Nested(OpenTaskChange))
    timers = fields.List(fields.Nested(TimerPlan))


class PlanSummary(Shape):
    instances = fields.Integer()
    migratable = fields.Integer()
    left_out = fields.Integer()


class MigrationPlan(Shape):
    """The dry run: the diff of duties and what happens to each instance."""
    process_key = fields.String()
    from_version = fields.Integer()
    to_version = fields.Integer()
    mapping = fields.Dict(keys=fields.String(), values=fields.String())
    duties = fields.List(fields.Nested(DutyChange))
    instances = fields.List(fields.Nested(InstancePlan))
    summary = fields.Nested(PlanSummary)


class LeftOut(Shape):
    instance_id = fields.Integer()
    status = fields.String(validate=validate.OneOf(["left_out", "skipped"]))
    reason = fields.String(allow_none=True)


class MigrationProgress(Shape):
    """A migration and its progress, instance by instance."""
    id = fields.Integer()
    process_key = fields.String()
    from_version = fields.Integer()
    to_version = fields.Integer()
    mapping = fields.Dict(keys=fields.String(), values=fields.String())
    status = fields.String(validate=validate.OneOf(["running", "completed"]))
    requested_by = fields.String()
    reason = fields.String()
    created_at = fields.String()
    finished_at = fields.String(allow_none=True)
    total = fields.Integer()
    done = fields.Integer()
    pending = fields.Integer()
    migrated = fields.Integer()
    left_out = fields.Integer()
    skipped = fields.Integer()
    percent = fields.Integer()
    outside = fields.List(fields.Nested(LeftOut), metadata={
        "description": "instances left out or skipped, with the reason (first 1,000)"})


class WhatIfSums(Shape):
    actual_bonus = fields.String()
    proposed_bonus = fields.String()
    bonus_delta = fields.String()
    raised = fields.Integer()
    lowered = fields.Integer()
    unchanged = fields.Integer()


class WhatIfRow(Shape):
    """One employee and period: what was (or would be) paid, and under the proposal."""
    period = fields.String()
    username = fields.String()
    name = fields.String()
    source = fields.String(metadata={"enum": ["final_run", "scheme", "no_scheme"]})
    run_id = fields.Integer(allow_none=True)
    scheme_version = fields.Integer(allow_none=True)
    bonus_base = fields.String()
    actual_kpi_score = fields.String()
    actual_bonus = fields.String()
    proposed_kpi_score = fields.String()
    proposed_bonus = fields.String()
    kpi_score_delta = fields.String()
    bonus_delta = fields.String()
    flags = fields.List(fields.String())


class WhatIfTotals(WhatIfSums):
    employees = fields.Integer()


class WhatIfPeriod(WhatIfTotals):
    period = fields.String()


class WhatIfEmployee(WhatIfSums):
    username = fields.String()
    name = fields.String()
    periods = fields.Integer()


class WhatIfBucket(Shape):
    change = fields.String()
    employees = fields.Integer()


class WhatIf(Shape):
    department = fields.String()
    periods = fields.List(fields.String())
    scheme = fields.Dict(keys=fields.String(), values=fields.Raw())
    rows = fields.List(fields.Nested(WhatIfRow))
    totals = fields.Nested(WhatIfTotals)
    period_totals = fields.List(fields.Nested(WhatIfPeriod))
    employees = fields.List(fields.Nested(WhatIfEmployee))
    distribution = fields.List(fields.Nested(WhatIfBucket))


class MyKpiQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    period = fields.String(validate=validate.Regexp(r"^\d{4}-\d{2}$"),
                           metadata={"description": "YYYY-MM; default: this month"})


class MonthRun(Shape):
    id = fields.Integer()
    status = fields.String()


class KpiFigures(Shape):
    kpi_score = fields.String()
    indicators = fields.List(fields.Nested(ScoredIndicator))
    flags = fields.List(fields.String())


class HeldTask(Shape):
    id = fields.String()
    name = fields.String()
    process_key = fields.String()
    process_instance_id = fields.Integer()
    due_at = fields.String(allow_none=True)
    overdue = fields.Boolean()


class OwnPayslip(Shape):
    run_id = fields.Integer()
    period = fields.String()
    kpi_score = fields.String()
    gross = fields.String()


class MyKpi(KpiFigures):
    """The caller's KPI for a month, computed by payroll's own code."""
    username = fields.String()
    period = fields.String()
    department = fields.String()
    scheme_version = fields.Integer(allow_none=True)
    run = fields.Nested(MonthRun, allow_none=True,
                        metadata={"description": "the month's payroll run, if any"})
    events = fields.List(fields.Nested(PayEvidence),
                         metadata={"description": "the completions that count"})
    open_tasks = fields.List(fields.Nested(HeldTask),
                             metadata={"description": "ready tasks the caller holds"})
    if_open_work_completed = fields.Nested(
        KpiFigures, allow_none=True,
        metadata={"description": "the month's figures if the open tasks were completed now "
                                 "(this month only; null without open tasks)"})
    payslips = fields.List(fields.Nested(OwnPayslip),
                           metadata={"description": "the caller's lines in final runs"})
