"""Request and response schemas; the OpenAPI document is generated from these."""
from __future__ import annotations

import datetime as dt

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from services.identity import audit

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


class TokenRequest(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class TokenResponse(Schema):
    token = fields.String()
    expires_at = fields.String()


class Problem(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Raw()


class Definition(Schema):
    key = fields.String()
    version = fields.Integer()
    name = fields.String()
    deployed_at = fields.String()


class DeployUpload(Schema):
    file = fields.Raw(metadata={"type": "string", "format": "binary"}, required=True)


class Task(Schema):
    id = fields.String()
    name = fields.String()
    element_id = fields.String()
    process_instance_id = fields.Integer()
    process_key = fields.String()
    lane = fields.String(allow_none=True)
    department = fields.String(allow_none=True)
    assignee = fields.String(allow_none=True)
    created_at = fields.String()
    due_at = fields.String(allow_none=True)
    status = fields.String()


class TaskDetail(Task):
    form = fields.Dict()


class StartRequest(StrictSchema):
    process_key = fields.String(required=True, validate=validate.Length(min=1, max=200))
    business_key = fields.String(allow_none=True, validate=validate.Length(max=200))
    data = fields.Dict(keys=fields.String(), load_default=dict)


class Instance(Schema):
    id = fields.Integer()
    process_key = fields.String()
    version = fields.Integer()
    business_key = fields.String(allow_none=True)
    status = fields.String()
    error = fields.String(allow_none=True)
    data = fields.Dict()
    tasks = fields.List(fields.Nested(Task))
    history = fields.List(fields.Dict())
    timers = fields.List(fields.Dict())


class InstanceQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.String(validate=validate.OneOf(["running", "completed", "error"]))
    process_key = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))


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
    cursor = fields.String(validate=validate.Length(max=500))


class CompleteRequest(StrictSchema):
    data = fields.Dict(keys=fields.String(), load_default=dict)


class AssignRequest(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))


class CommentRequest(StrictSchema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class Comment(Schema):
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


class AuditQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    entity = fields.String(validate=validate.OneOf(audit.ENTITIES))
    key = fields.String(validate=validate.Length(min=1, max=100))
    before = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))  # an audit entry id
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class CorrectionRequest(StrictSchema):
    data = fields.Dict(keys=fields.String(), required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
