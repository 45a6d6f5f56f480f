"""The database schema: typed SQLAlchemy 2.0 models.

Process instances carry a version column used for optimistic locking: every state
change is `UPDATE ... WHERE id = :id AND lock_version = :seen` (services.persistence.
step_store, the only writer of an instance after its insert), so of two people
completing the same task, exactly one commit wins. Payroll runs, changed through the
ORM, use SQLAlchemy's version counter instead. Task events are append-only; the
migration installs triggers that refuse UPDATE and DELETE on them.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from payroll.ledger import EventKind
from services.persistence.statuses import DeliveryStatus, TaskStatus


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite would otherwise hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None \
            else value.astimezone(dt.timezone.utc)


JSONDocument = JSON().with_variant(JSONB(), "postgresql")
Money = Numeric(12, 2, asdecimal=True)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_key: Mapped[str | None] = mapped_column(String(64))
    head_username: Mapped[str | None] = mapped_column(String(64))
    lanes: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    duties: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    # The org file's `notify` mapping: webhook/robot URLs and their secrets. The delivery
    # worker reads it when it sends; no API answer or log line ever shows it.
    notify: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    # ISO 8601 durations: defaults for the department's user tasks without their own.
    remind_after: Mapped[str | None] = mapped_column(String(40))
    escalate_after: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Employee(Base):
    __tablename__ = "employees"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    department_key: Mapped[str] = mapped_column(String(64), index=True)
    position: Mapped[str | None] = mapped_column(String(200))
    manager_username: Mapped[str | None] = mapped_column(String(64))
    roles: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    base_salary: Mapped[Decimal] = mapped_column(Money)
    bonus_base: Mapped[Decimal] = mapped_column(Money)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Bumped by a password change or a sign-out: tokens and sessions issued under an
    # older version stop working at once.
    credential_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    email: Mapped[str | None] = mapped_column(String(320))
    locale: Mapped[str | None] = mapped_column(String(10))  # en or zh-CN; None: en
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrgRevision(Base):
    """A single row: a random token the org import replaces whenever it runs.

    Caches of org-derived data (the lane routing) are keyed by it, so they are valid
    across processes and databases without being told about an import.
    """

    __tablename__ = "org_revision"
    __table_args__ = (CheckConstraint("id = 1", name="ck_org_revision_single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32))


class OrgChange(Base):
    """One field-level change made by an org import, kept for audit."""

    __tablename__ = "org_changes"
    __table_args__ = (Index("ix_org_changes_entity_time", "entity", "changed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[str] = mapped_column(String(36), index=True)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    entity: Mapped[str] = mapped_column(String(20))
    entity_key: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(20))
    before: Mapped[dict | None] = mapped_column(JSONDocument)
    after: Mapped[dict | None] = mapped_column(JSONDocument)


class ProcessDefinition(Base):
    __tablename__ = "process_definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)  # large; compiled models are cached
    checksum: Mapped[str] = mapped_column(String(64))  # definitions.content_checksum
    deployed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deployed_by: Mapped[str | None] = mapped_column(String(64))
    # Owns the user tasks that name no owner (diagrams drawn in other tools have no lanes).
    default_department: Mapped[str | None] = mapped_column(String(64))
    # The DMN files deployed with it, as JSON [{"filename", "xml"}] (see decision_files()).
    dmn_files: Mapped[str | None] = mapped_column(Text, deferred=True)
    # Shared by the versions deployed together (a call's binding "deployment").
    deployment_id: Mapped[str | None] = mapped_column(String(36))
    # The Camunda Forms (.form) deployed with it, as JSON [{"filename", "json"}].
    form_files: Mapped[str | None] = mapped_column(Text, deferred=True)

    def decision_files(self) -> tuple[tuple[str, str], ...]:
        """(file name, DMN text) of each decision file deployed with this version."""
        return tuple((item["filename"], item["xml"]) for item in json.loads(self.dmn_files)) \
            if self.dmn_files else ()

    def companion_files(self) -> tuple[tuple[str, str], ...]:
        """(file name, text) of every file deployed with the diagram: DMN, then forms
        (what engine.loader.load_processes compiles the version with)."""
        forms = tuple((item["filename"], item["json"]) for item in json.loads(self.form_files)) \
            if self.form_files else ()
        return self.decision_files() + forms


class ProcessInstance(Base):
    __tablename__ = "process_instances"

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(200), index=True)
    process_version: Mapped[int] = mapped_column(Integer)
    business_key: Mapped[str | None] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    state: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    started_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # Set when its working rows moved to archived_instances (services.workflow.archive).
    archived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A child instance started by a call activity (services.workflow.calls): its caller,
    # and the call's task and element there.
    parent_instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instances.id", name="fk_process_instances_parent"), index=True)
    parent_task_id: Mapped[str | None] = mapped_column(String(36))
    parent_element_id: Mapped[str | None] = mapped_column(String(200))

    definition: Mapped[ProcessDefinition] = relationship(lazy="joined")


class ArchivedInstance(Base):
    """A finished instance's engine state and working rows, kept as one document once its
    pay periods are final; its completion events and actions stay in the ledger."""

    __tablename__ = "archived_instances"

    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"),
                                             primary_key=True)
    archived_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    archived_by: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JSONDocument)


class Task(Base):
    """Projection of a user task for inboxes; the instance state stays the source of truth.

    Migration 0004 adds expression indexes `(..., (due_at IS NULL), due_at, id)` that the
    inbox query (services.workflow.tasks) reads in order.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_inbox", "status", "department_key", "due_at"),
        Index("ix_tasks_instance", "process_instance_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    process_instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"))
    process_key: Mapped[str] = mapped_column(String(200))
    element_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(200))
    department_key: Mapped[str | None] = mapped_column(String(64))
    candidate_departments: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    status: Mapped[str] = mapped_column(String(20))
    # The person the task is for: routed there by the diagram (camunda:assignee), claimed,
    # assigned or transferred. Only they (or their substitute) may complete it.
    assignee: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[str | None] = mapped_column(String(64))
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When it was first escalated to a head (services.notify.follow_ups); its completion
    # event records whether it was, for the escalation_free_rate metric.
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # camunda:candidateUsers as resolved when the task became ready: when set, only these
    # persons (not the whole department) may claim it. Mirrored in task_candidates for
    # the inbox query.
    candidate_users: Mapped[list[str]] = mapped_column(JSONDocument, default=list,
                                                       server_default="[]")
    # The task's local variables (its input parameters) as it became ready: shown with the
    # task and prefilling its form's fields of the same names. None: it has none.
    local_data: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)

    @classmethod
    def overdue(cls, now: dt.datetime):
        """Still open past its due time: the condition every overdue count and list uses
        (a task without a due time is never overdue). Its completion is judged by the
        event's stored `on_time` instead."""
        return and_(cls.status == TaskStatus.READY, cls.due_at < now)


class TaskCandidate(Base):
    """One candidate user of a task: the inbox lists unassigned tasks by these rows."""

    __tablename__ = "task_candidates"

    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class TaskHistory(Base):
    """Who handed a task to whom, when and why (transfer, assignment); only ever added to."""

    __tablename__ = "task_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(20))
    from_username: Mapped[str | None] = mapped_column(String(64))
    to_username: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)


class Absence(Base):
    """A person away from `starts_at` to `ends_at`: work routed to them goes to their
    substitute meanwhile. One per person; setting it again replaces it."""

    __tablename__ = "absences"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    substitute: Mapped[str] = mapped_column(String(64), index=True)
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# Facts about an event that payroll aggregates over a month of events, stored with the
# event (events never change, so they never go stale): summing or counting a small
# column costs SQLite a fraction of parsing or comparing two timestamps in every row.
# As column defaults they are filled on every insert, Core or ORM, that leaves them out.

def _handling_seconds(context) -> int:
    """Whole seconds from ready to completed, both times cut to the second."""
    row = context.get_current_parameters()
    ready, completed = (row[name].replace(microsecond=0) for name in ("ready_at", "completed_at"))
    return (completed - ready) // dt.timedelta(seconds=1)


def _on_time(context) -> bool | None:
    """Completed by the due time; None when the duty had none."""
    row = context.get_current_parameters()
    return None if row.get("due_at") is None else row["completed_at"] <= row["due_at"]


class TaskEvent(Base):
    """An immutable record of a completed duty: the evidence payroll is computed from."""

    __tablename__ = "task_events"
    __table_args__ = (
        Index("ix_task_events_actor_time", "completed_by", "completed_at"),
        Index("ix_task_events_department_time", "department_key", "completed_at"),
        Index("ix_task_events_completed_at", "completed_at"),
        Index("ix_task_events_corrects", "corrects_event_id",
              postgresql_where=text(f"kind = '{EventKind.CORRECTION}'"),
              sqlite_where=text(f"kind = '{EventKind.CORRECTION}'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default=EventKind.COMPLETED)
    corrects_event_id: Mapped[int | None] = mapped_column(ForeignKey("task_events.id"))
    process_instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(200))
    process_version: Mapped[int] = mapped_column(Integer)
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(200))
    task_name: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(200))
    department_key: Mapped[str | None] = mapped_column(String(64))
    actor_department_key: Mapped[str | None] = mapped_column(String(64))
    completed_by: Mapped[str] = mapped_column(String(64))
    # The absent person whose task a substitute completed (services.org.absences).
    on_behalf_of: Mapped[str | None] = mapped_column(String(64))
    ready_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # When the row was written and by whom: for a completion, the completer at completion
    # time; for a correction, who corrected it and when (completed_at stays the original's).
    recorded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    handling_seconds: Mapped[int] = mapped_column(Integer, default=_handling_seconds)
    on_time: Mapped[bool | None] = mapped_column(default=_on_time)
    # Whether the task had been escalated before it was completed.
    escalated: Mapped[bool] = mapped_column(default=False, server_default=false())


class Timer(Base):
    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_due", "status", "due_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    process_instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    element_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20))
    fired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ExternalTask(Base):
    """A task waiting for a worker outside DutyFlow, mirrored for fetch-and-lock.

    Locked by one worker until `lock_expires_at`; after a failure it may be fetched again
    from `retry_at`, while `retries` (as the worker last reported them) stays above 0.
    """

    __tablename__ = "external_tasks"
    __table_args__ = (Index("ix_external_tasks_topic", "topic", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the engine task's id
    process_instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(200))
    element_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    worker_id: Mapped[str | None] = mapped_column(String(200))
    lock_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    retries: Mapped[int | None] = mapped_column(Integer)
    retry_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The task's own variables over the process data: one instance of a multi-instance
    # task has its item under the element variable (engine.runtime.ReadyExternal).
    local_variables: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, so a leaked table signs nobody in."""

    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    credential_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class TaskComment(Base):
    """A progress note on a task ("waiting for the sample")."""

    __tablename__ = "task_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class KpiScheme(Base):
    """One version of a department's KPI scheme; a new PUT with changes adds a version."""

    __tablename__ = "kpi_schemes"
    __table_args__ = (UniqueConstraint("department_key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    department_key: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))


class PayrollRun(Base):
    __tablename__ = "payroll_runs"
    __table_args__ = {"info": {"record": "the payroll run"}}  # named in a lost race

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7), index=True)
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))
    calculated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finalized_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finalized_by: Mapped[str | None] = mapped_column(String(64))
    scheme_versions: Mapped[dict[str, int]] = mapped_column(JSONDocument, default=dict)
    # Four eyes (services.pay.approvals): who calculated it last, and who else approved
    # or rejected that calculation; a draft is finalised only once approved.
    prepared_by: Mapped[str | None] = mapped_column(String(64))
    prepared_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rejected_by: Mapped[str | None] = mapped_column(String(64))
    rejected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}


class PayrollLine(Base):
    __tablename__ = "payroll_lines"
    __table_args__ = (UniqueConstraint("run_id", "username"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("payroll_runs.id"), index=True)
    username: Mapped[str] = mapped_column(String(64))
    department_key: Mapped[str] = mapped_column(String(64))
    scheme_version: Mapped[int | None] = mapped_column(Integer)
    base_salary: Mapped[Decimal] = mapped_column(Money)
    bonus_base: Mapped[Decimal] = mapped_column(Money)
    kpi_score: Mapped[Decimal] = mapped_column(Numeric(8, 4, asdecimal=True))
    bonus: Mapped[Decimal] = mapped_column(Money)
    adjustments: Mapped[Decimal] = mapped_column(Money)
    gross: Mapped[Decimal] = mapped_column(Money)
    indicators: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    flags: Mapped[list[str]] = mapped_column(JSONDocument, default=list)


class PayrollAdjustment(Base):
    """Money owed for an earlier, finalised period whose evidence was corrected later."""

    __tablename__ = "payroll_adjustments"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("payroll_runs.id"), index=True)
    username: Mapped[str] = mapped_column(String(64))
    source_period: Mapped[str] = mapped_column(String(7))
    amount: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str] = mapped_column(Text)


class AuditEntry(Base):
    """Who changed a scheme, a run or a salary, when, from what, to what."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str | None] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(40))
    entity_key: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(40))
    old: Mapped[Any | None] = mapped_column(JSONDocument)
    new: Mapped[Any | None] = mapped_column(JSONDocument)


class IdempotencyKey(Base):
    """The first answer to a request sent with an `Idempotency-Key` header, per caller.

    A retry with the same key (and the same request) gets this answer again instead of
    a second attempt; the fingerprint tells a reused key on another request apart.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Incident(Base):
    """A step that failed: which element, why, and the process data at that moment."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_process_time", "process_key", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instances.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(200))
    element_id: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class InstanceAction(Base):
    """What a person did to a process instance itself: withdrew, cancelled, suspended,
    resumed, fixed its data, retried or moved it; who, when, why and with what details.

    Append-only like task events (the migration's triggers refuse UPDATE and DELETE), and
    written in the transaction of the change it records. None of these is a completion:
    payroll never reads this table, so a step moved past or cancelled credits nobody.
    """

    __tablename__ = "instance_actions"
    __table_args__ = (Index("ix_instance_actions_instance", "process_instance_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"))
    kind: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    status_before: Mapped[str] = mapped_column(String(20))
    status_after: Mapped[str] = mapped_column(String(20))
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventSubscription(Base):
    """A receive task or catch event waiting for a message or signal by name: the
    projection that lets a message find its instance without loading instances. Rows are
    written with the step that starts or ends the wait, like tasks and timers."""

    __tablename__ = "event_subscriptions"
    __table_args__ = (Index("ix_event_subscriptions_name", "kind", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the engine task's id
    process_instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"),
                                                     index=True)
    element_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))  # message, signal
    name: Mapped[str] = mapped_column(String(200))


class SentMessage(Base):
    """The answer to a message sent with a `message_id`, per sender: the same id again
    gets this answer and moves nothing twice."""

    __tablename__ = "sent_messages"

    sender: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    answer: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    """The outbox: one row per person told about something, written in the transaction
    of the step that caused it (a rolled-back step tells nobody). `in_app` rows are the
    person's list and bell; the rows' deliveries carry it to other channels."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_recipient", "recipient", "id"),
                      Index("ix_notifications_unread", "recipient", "read_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(30))
    task_id: Mapped[str | None] = mapped_column(String(36))
    process_instance_id: Mapped[int | None] = mapped_column(Integer)
    payroll_run_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    in_app: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Delivery(Base):
    """One message to one channel target, sent by the delivery worker at least once.

    `id` is the stable delivery id receivers de-duplicate on. A worker claims a row by
    setting `claimed_by` and `lease_until`; a worker that dies mid-send leaves a lease
    that expires, and the next worker sends it again. `target` is an email address, or
    for webhooks and robots the department key (its URL and secret are read at send
    time, so they are stored once, in departments.notify).
    """

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(30))
    locale: Mapped[str] = mapped_column(String(10))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    status: Mapped[str] = mapped_column(String(10), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class NotificationSettings(Base):
    """A person's choice of channels; without a row, the defaults of services.notify.settings."""

    __tablename__ = "notification_settings"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    app: Mapped[bool] = mapped_column(default=True)
    email: Mapped[bool] = mapped_column(default=True)
    department_tasks: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TaskFollowUp(Base):
    """When a ready task is due a reminder and its next escalation (tasks with neither have
    no row). `next_department`: whose head the next escalation tells; it climbs to the
    parent department each time, and the row stops escalating at the top."""

    __tablename__ = "task_follow_ups"

    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    remind_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    escalate_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    escalate_after: Mapped[str | None] = mapped_column(String(40))
    next_department: Mapped[str | None] = mapped_column(String(64))
    level: Mapped[int] = mapped_column(Integer, default=0)


class Escalation(Base):
    """One escalation of an open task: which department's head was told, who, when."""

    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)  # 1: the task's department, 2: its parent, ...
    department_key: Mapped[str] = mapped_column(String(64))
    notified: Mapped[str | None] = mapped_column(String(64))  # the head; None: no active head
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Migration(Base):
    """Moving running instances of a process from one version to another
    (services.workflow.migration): who asked, the mapping, and where it stands. Each
    instance's progress is a MigrationItem, changed in the transaction that migrates it,
    so a run stopped half-way resumes where it was and never migrates an instance twice."""

    __tablename__ = "migrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(200), index=True)
    from_version: Mapped[int] = mapped_column(Integer)
    to_version: Mapped[int] = mapped_column(Integer)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    status: Mapped[str] = mapped_column(String(20))  # running, completed
    requested_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class MigrationItem(Base):
    """One instance in a migration: pending, migrated, left_out (with the reason: an
    active element the new version lacks) or skipped (it changed before its turn)."""

    __tablename__ = "migration_items"
    __table_args__ = (Index("ix_migration_items_status", "migration_id", "status",
                            "process_instance_id"),)

    migration_id: Mapped[int] = mapped_column(ForeignKey("migrations.id"), primary_key=True)
    process_instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"),
                                                     primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class FileBlob(Base):
    """A file's content, stored once however often it is attached: keyed by its SHA-256.

    `content` holds the bytes when the deployment keeps files in the database; otherwise
    they live under the files directory (services.persistence.file_store) and this row
    says they were committed. An image's thumbnail is kept here either way (a few KB)."""

    __tablename__ = "file_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(100))
    in_database: Mapped[bool] = mapped_column(default=False)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    thumbnail: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attachment(Base):
    """A file attached to a task's completion: which field, under which name. Access to it
    is access to the task (services.identity.access.may_see_task)."""

    __tablename__ = "attachments"
    __table_args__ = (UniqueConstraint("task_id", "field", "sha256", name="uq_attachments_file"),
                      Index("ix_attachments_sha256", "sha256"))

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    process_instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    field: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(ForeignKey("file_blobs.sha256"))
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PayrollExport(Base):
    """A payroll run's export made by a background job, the file kept with it until
    downloaded (services.pay.export_jobs). The file is written in the same transaction
    that marks it ready, so a job killed half-way leaves it queued, and the rerun makes it
    once."""

    __tablename__ = "payroll_exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("payroll_runs.id"), index=True)
    format: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # jobs that ran to a commit
    filename: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int | None] = mapped_column(BigInteger)
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    error: Mapped[str | None] = mapped_column(Text)


class JobFailure(Base):
    """Background jobs that raised, counted per job name in the database: Celery workers
    serve no HTTP, so `/metrics` reads the count from here at scrape time
    (services.persistence.job_failures)."""

    __tablename__ = "job_failures"

    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(BigInteger, default=0)
    last_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
