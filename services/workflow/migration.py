"""Migrating running instances from one version of a process to another.

A plan says, per instance, how its active elements map onto the new version (by id, or
by the designer's `mapping` {old id: new id}), which cannot be mapped (the instance is
then left out, with the reason), which open tasks change owning department, form or
deadline, and which timers are planned again; and, for the process, which department
does which step before and after (the diff of duties).

A run stores a `migrations` row and one `migration_items` row per instance, then
migrates the pending ones in batches, each instance in its own unit of work: lock it,
re-host its state on the new version in a sandbox worker (engine.steps MIGRATE, on the
new version's model as a retry on a fixed version runs), bring its task, timer and
subscription rows up to date, point it at the new version, append a `migrated`
instance action and mark its item, all in one commit. A run stopped half-way (a crash,
a killed process) resumes from the items still pending; an instance whose item is no
longer pending, or which is no longer on the old version, is never migrated again.
"""
from __future__ import annotations

import datetime as dt
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from engine import migration as rehosting
from engine.model import DutySpec, InstanceStatus, ProcessModel
from engine.steps import MIGRATE, StepRefused
from services.errors import Conflict, InvalidInput, NotFound, PermissionDenied, StepFailed
from services.identity.access import actor_named
from services.identity.actor import Actor
from services.org.directory import Directory
from services.persistence import step_store
from services.persistence.models import (EventSubscription, ExternalTask, InstanceAction,
                                         Migration, MigrationItem, ProcessDefinition, ProcessInstance, Task,
                                         Timer, utcnow)
from services.persistence.statuses import (ExternalTaskStatus, InstanceActionKind, TaskStatus,
                                           TimerStatus)
from services.persistence.unit_of_work import Store, UnitOfWork
from services.workflow import actions
from services.workflow.definitions import model_of
from services.workflow.instances import take_step
from services.workflow.projection import Mirrored, project

BATCH_SIZE = 100
PARALLEL = 4  # threads sharing a batch on PostgreSQL
MAX_INSTANCE_IDS = 10_000
MIGRATING = (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED, InstanceStatus.ERROR)
PENDING, MIGRATED, LEFT_OUT, SKIPPED = "pending", "migrated", "left_out", "skipped"
RUNNING, COMPLETED = "running", "completed"


def may_migrate(actor: Actor) -> bool:
    """Designers (who deploy the new version) and admins."""
    return actor.has("admin", "designer")


@dataclass(frozen=True)
class Versions:
    """Both versions of a migration, checked, with their compiled models."""

    key: str
    source: ProcessDefinition
    target: ProcessDefinition
    old: ProcessModel
    new: ProcessModel
    mapping: dict[str, str]

    @property
    def names(self) -> dict[str | None, set[str]]:
        return rehosting.names_of(self.new)

    def target_of(self, element_id: str) -> str:
        return self.mapping.get(element_id, element_id)


def versions(uow: UnitOfWork, actor: Actor, process_key: str, from_version: int,
             to_version: int, mapping: dict[str, str] | None) -> Versions:
    """The two versions and the mapping, checked: 403 for others than designers and
    admins, 404 for an unknown process, 422 for an unknown or equal version or a mapping
    naming an element that one of them lacks."""
    if not may_migrate(actor):
        raise PermissionDenied("only designers and admins may migrate process instances")
    deployed = dict(uow.session.execute(select(ProcessDefinition.version, ProcessDefinition.id)
                                        .where(ProcessDefinition.key == process_key)).all())
    if not deployed:
        raise NotFound(f"no process is deployed with key {process_key!r}")
    errors: dict[str, list[str]] = {}
    known = ", ".join(str(version) for version in sorted(deployed))
    for name, version in (("from_version", from_version), ("to_version", to_version)):
        if version not in deployed:
            errors[name] = [f"{process_key} has no version {version} (it has {known})."]
    if not errors and from_version == to_version:
        errors["to_version"] = ["The instances are on this version already: name another."]
    if errors:
        raise InvalidInput("the versions of the migration are invalid", errors)
    source = uow.session.get(ProcessDefinition, deployed[from_version])
    target = uow.session.get(ProcessDefinition, deployed[to_version])
    old, new = model_of(uow, source), model_of(uow, target)
    mapping = dict(mapping or {})
    old_elements = set(rehosting.elements_of(old).values())
    new_elements = set(rehosting.elements_of(new).values())
    problems = {old_id: [f"{old_id} is not an element of version {from_version}."]
                for old_id in mapping if old_id not in old_elements}
    for old_id, new_id in mapping.items():
        if new_id not in new_elements:
            problems.setdefault(old_id, []).append(
                f"{new_id} is not an element of version {to_version}.")
    if problems:
        raise InvalidInput("the mapping names elements that do not exist", {"mapping": problems})
    return Versions(process_key, source, target, old, new, mapping)


# -- the plan ------------------------------------------------------------------------

def duty_diff(uow: UnitOfWork, chosen: Versions) -> list[dict[str, Any]]:
    """Which department does which step, before and after: every duty of either version,
    matched by the mapping or by id, with its departments, form and deadline."""
    directory = Directory.load(uow)
    before = {chosen.target_of(element): duty for element, duty in chosen.old.duties.items()}
    rows = []
    for element in list(dict.fromkeys([*before, *chosen.new.duties])):
        old, new = before.get(element), chosen.new.duties.get(element)
        old_id = old.element_id if old else None
        departments_before = _departments(directory, old)
        departments_after = _departments(directory, new)
        change = "added" if old is None else "removed" if new is None else \
            "changed" if (departments_before != departments_after or old.form != new.form
                          or old.due_date != new.due_date or old.name != new.name
                          or old_id != element) else "same"
        rows.append({
            "element_before": old_id, "element_after": new.element_id if new else None,
            "name_before": old.name if old else None, "name_after": new.name if new else None,
            "departments_before": departments_before, "departments_after": departments_after,
            "form_changed": bool(old and new and old.form != new.form),
            "fields_added": _fields_added(old, new),
            "deadline_before": old.due_date if old else None,
            "deadline_after": new.due_date if new else None, "change": change})
    return rows


def _departments(directory: Directory, duty: DutySpec | None) -> list[str]:
    if duty is None:
        return []
    return sorted(directory.owners_of(duty))


def _fields_added(old: DutySpec | None, new: DutySpec | None) -> list[str]:
    if old is None or new is None:
        return []
    had = {spec.id for spec in old.form.fields}
    return [spec.id for spec in new.form.fields if spec.id not in had]


@dataclass
class InstancePlan:
    """What migrating one instance does."""

    instance_id: int
    status: str
    business_key: str | None
    mapped: list[dict[str, str]] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    replan: list[str] = field(default_factory=list)  # timer elements planned again
    redue: dict[str, str] = field(default_factory=dict)  # task id -> ready since (ISO)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # task id -> new columns

    @property
    def migratable(self) -> bool:
        return not self.left_out

    def to_json(self) -> dict[str, Any]:
        return {"instance_id": self.instance_id, "status": self.status,
                "business_key": self.business_key, "migratable": self.migratable,
                "mapped": self.mapped, "left_out": self.left_out, "tasks": self.tasks,
                "timers": self.timers}


class _Planner:
    """Plans instances of one migration (the directory and specs read once)."""

    def __init__(self, uow: UnitOfWork, chosen: Versions):
        self.uow, self.chosen = uow, chosen
        self.directory = Directory.load(uow)
        self.names = chosen.names
        self.elements = rehosting.elements_of(chosen.old)

    def plan(self, instance_id: int, status: str, business_key: str | None,
             state: dict[str, Any], tasks: Iterable[Task],
             timers: Iterable[Timer]) -> InstancePlan:
        chosen = self.chosen
        planned = InstancePlan(instance_id, status, business_key)
        checked = rehosting.check(state, self.names, chosen.mapping, self.elements)
        planned.mapped = [{"element_before": old, "element_after": new}
                          for old, new in checked.mapped]
        planned.left_out = checked.unmapped
        for task in tasks:
            old = chosen.old.duties.get(task.element_id)
            new = chosen.new.duties.get(chosen.target_of(task.element_id))
            if old is None or new is None:
                continue
            named = ((task.assignee,) if task.assignee else ()) + tuple(task.candidate_users)
            department, _ = self.directory.inbox_of(
                new, named, self.directory.snapshot(self.uow) if named and not new.owners
                else None)
            changes = {"task_id": task.id, "element_id": task.element_id,
                       "element_after": new.element_id, "department_before": task.department_key,
                       "department_after": department, "form_changed": old.form != new.form,
                       "fields_added": _fields_added(old, new),
                       "deadline_before": old.due_date, "deadline_after": new.due_date}
            if old.due_date != new.due_date:
                planned.redue[task.id] = task.created_at.isoformat()
            if department != task.department_key or old.form != new.form \
                    or old.due_date != new.due_date or old.element_id != new.element_id:
                planned.tasks.append(changes)
            if (department, new.name, new.lane) != (task.department_key, task.name, task.lane):
                planned.rows[task.id] = {"department_key": department, "name": new.name,
                                         "lane": new.lane}
        for timer in timers:
            target = chosen.target_of(timer.element_id)
            changed = _timer_changed(chosen.old, timer.element_id, chosen.new, target)
            if changed:
                planned.replan.append(target)
            planned.timers.append({"timer_id": timer.id, "element_id": timer.element_id,
                                   "element_after": target, "due_at": timer.due_at.isoformat()
                                   if timer.due_at else None, "replanned": changed})
        return planned


def _timer_changed(old: ProcessModel, element: str, new: ProcessModel, target: str) -> bool:
    """Whether the timer's definition (its kind or expression) differs in the new version."""
    old_spec, new_spec = old.spec.task_specs.get(element), new.spec.task_specs.get(target)
    if old_spec is None or new_spec is None:
        return False
    before = getattr(old_spec, "event_definition", None)
    after = getattr(new_spec, "event_definition", None)
    return type(before) is not type(after) or \
        getattr(before, "expression", None) != getattr(after, "expression", None)


def _chosen_instances(uow: UnitOfWork, chosen: Versions,
                      instance_ids: list[int] | None) -> list[int]:
    statement = select(ProcessInstance.id).where(
        ProcessInstance.definition_id == chosen.source.id,
        ProcessInstance.status.in_([status.value for status in MIGRATING]))
    if instance_ids is not None:
        statement = statement.where(ProcessInstance.id.in_(instance_ids))
    found = list(uow.session.scalars(statement.order_by(ProcessInstance.id)))
    if instance_ids is not None:
        missing = sorted(set(instance_ids) - set(found))
        if missing:
            raise InvalidInput("some instances cannot be migrated", {"instance_ids": [
                f"{instance_id} is not a running, suspended or errored instance of "
                f"{chosen.key} version {chosen.source.version}." for instance_id in missing]})
    return found


def _plans(uow: UnitOfWork, chosen: Versions, ids: list[int]) -> list[InstancePlan]:
    planner = _Planner(uow, chosen)
    plans = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = uow.session.execute(select(ProcessInstance.id, ProcessInstance.status,
                                          ProcessInstance.business_key, ProcessInstance.state)
                                   .where(ProcessInstance.id.in_(chunk))
                                   .order_by(ProcessInstance.id)).all()
        tasks, timers = _open_work(uow, chunk)
        plans += [planner.plan(row.id, row.status, row.business_key, _as_dict(row.state),
                               tasks.get(row.id, []), timers.get(row.id, []))
                  for row in rows]
    return plans


def _open_work(uow: UnitOfWork, ids: list[int]) -> tuple[dict[int, list[Task]],
                                                          dict[int, list[Timer]]]:
    tasks: dict[int, list[Task]] = {}
    for task in uow.session.scalars(select(Task).where(
            Task.process_instance_id.in_(ids), Task.status == TaskStatus.READY)
            .order_by(Task.created_at, Task.id)):
        tasks.setdefault(task.process_instance_id, []).append(task)
    timers: dict[int, list[Timer]] = {}
    for timer in uow.session.scalars(select(Timer).where(
            Timer.process_instance_id.in_(ids), Timer.status == TimerStatus.PENDING)
            .order_by(Timer.due_at, Timer.id)):
        timers.setdefault(timer.process_instance_id, []).append(timer)
    return tasks, timers


def _as_dict(state: Any) -> dict[str, Any]:
    return json.loads(state) if isinstance(state, str) else state


def plan(uow: UnitOfWork, actor: Actor, process_key: str, from_version: int, to_version: int,
         mapping: dict[str, str] | None = None,
         instance_ids: list[int] | None = None) -> dict[str, Any]:
    """The dry run: the diff of duties and, per instance, what would happen."""
    chosen = versions(uow, actor, process_key, from_version, to_version, mapping)
    plans = _plans(uow, chosen, _chosen_instances(uow, chosen, instance_ids))
    migratable = sum(1 for planned in plans if planned.migratable)
    return {"process_key": process_key, "from_version": from_version,
            "to_version": to_version, "mapping": chosen.mapping,
            "duties": duty_diff(uow, chosen),
            "instances": [planned.to_json() for planned in plans],
            "summary": {"instances": len(plans), "migratable": migratable,
                        "left_out": len(plans) - migratable}}


# -- the run -------------------------------------------------------------------------

def create(uow: UnitOfWork, actor: Actor, process_key: str, from_version: int, to_version: int,
           reason: str, mapping: dict[str, str] | None = None,
           instance_ids: list[int] | None = None, now: dt.datetime | None = None) -> Migration:
    """Record a migration and its instances: pending, or left out with the reason. Run
    it with `run` (or resume it after a crash)."""
    now = now or utcnow()
    reason = actions.reason_given(reason)
    chosen = versions(uow, actor, process_key, from_version, to_version, mapping)
    plans = _plans(uow, chosen, _chosen_instances(uow, chosen, instance_ids))
    row = Migration(process_key=process_key, from_version=from_version, to_version=to_version,
                    mapping=chosen.mapping, status=RUNNING, requested_by=actor.username,
                    reason=reason, created_at=now)
    uow.session.add(row)
    uow.flush()
    uow.session.execute(MigrationItem.__table__.insert(), [
        {"migration_id": row.id, "process_instance_id": planned.instance_id,
         "status": PENDING if planned.migratable else LEFT_OUT,
         "reason": None if planned.migratable else "; ".join(planned.left_out),
         "at": None if planned.migratable else now} for planned in plans] or [])
    if not plans:
        row.status, row.finished_at = COMPLETED, now
    uow.commit()
    return row


def get(uow: UnitOfWork, actor: Actor, migration_id: int) -> Migration:
    if not may_migrate(actor):
        raise PermissionDenied("only designers and admins may see migrations")
    row = uow.session.get(Migration, migration_id)
    if row is None:
        raise NotFound(f"migration {migration_id} does not exist")
    return row


def progress(uow: UnitOfWork, row: Migration) -> dict[str, Any]:
    """The migration with its counts per item status, and the instances left out or
    skipped with their reasons."""
    counts = dict(uow.session.execute(select(MigrationItem.status, func.count())
                                      .where(MigrationItem.migration_id == row.id)
                                      .group_by(MigrationItem.status)).all())
    total = sum(counts.values())
    outside = uow.session.execute(select(MigrationItem.process_instance_id,
                                         MigrationItem.status, MigrationItem.reason)
                                  .where(MigrationItem.migration_id == row.id,
                                         MigrationItem.status.in_([LEFT_OUT, SKIPPED]))
                                  .order_by(MigrationItem.process_instance_id).limit(1000)).all()
    done = total - counts.get(PENDING, 0)
    return {"id": row.id, "process_key": row.process_key, "from_version": row.from_version,
            "to_version": row.to_version, "mapping": row.mapping, "status": row.status,
            "requested_by": row.requested_by, "reason": row.reason,
            "created_at": row.created_at.isoformat(),
            "finished_at": row.finished_at.isoformat() if row.finished_at else None,
            "total": total, "done": done, "pending": counts.get(PENDING, 0),
            "migrated": counts.get(MIGRATED, 0), "left_out": counts.get(LEFT_OUT, 0),
            "skipped": counts.get(SKIPPED, 0),
            "percent": 100 if total == 0 else round(100 * done / total),
            "outside": [{"instance_id": item.process_instance_id, "status": item.status,
                         "reason": item.reason} for item in outside]}


def resumable(uow: UnitOfWork, actor: Actor, migration_id: int) -> Migration:
    """A migration someone may run on (designers and admins); 409 once it is completed."""
    row = get(uow, actor, migration_id)
    if row.status == COMPLETED:
        raise Conflict(f"migration {migration_id} is already completed")
    return row


def run(store: Store, migration_id: int, batch_size: int = BATCH_SIZE,
        after_batch: Callable[[int, int], None] | None = None,
        actor: Actor | None = None, workers: int | None = None) -> int:
    """Migrate the pending instances of a migration in batches, each in its own unit of
    work; returns how many this call migrated. `after_batch(done, total)` is called at
    every batch boundary (the CLI's progress bar; a hook that raises stops the run there,
    as a crash would, and `run` again resumes it). The instance actions are recorded as
    `actor`'s (the CLI's operator), by default as the person who asked for it.

    On PostgreSQL a batch is shared by `workers` threads (default PARALLEL), each with
    its own connection: a step waits on the database more than it computes, and row locks
    keep them apart. SQLite has one writer at a time, so one thread."""
    with store.reading() as uow:
        row = uow.session.get(Migration, migration_id)
        if row is None:
            raise NotFound(f"migration {migration_id} does not exist")
        key, from_version, to_version = row.process_key, row.from_version, row.to_version
        mapping, requested_by, reason = dict(row.mapping), row.requested_by, row.reason
        total = uow.session.scalar(select(func.count()).where(
            MigrationItem.migration_id == migration_id))
    if workers is None:
        workers = PARALLEL if store.engine.dialect.name == "postgresql" else 1

    def migrate_part(ids: list[int]) -> list[str | None]:
        with store.writing() as uow:
            doer = actor or actor_named(uow, requested_by)
            planner = _Planner(uow, versions(uow, doer, key, from_version, to_version, mapping))
            batch = _Batch(migration_id, reason, doer, _prefetched(uow, planner, ids))
            uow.session.rollback()  # the reads above end here: each instance has its own
            return [_migrate_one(uow, planner, batch, instance_id) for instance_id in ids]

    migrated, stalled = 0, None
    with ThreadPoolExecutor(workers, thread_name_prefix=f"migration-{migration_id}") as pool:
        while True:
            pending = _pending(store, migration_id, batch_size)
            if not pending:
                break
            if pending == stalled:  # the same instances lost a race twice in a row
                raise Conflict(f"migration {migration_id}: instances {pending[:5]} keep "
                               "changing under it; resume it later")
            parts = [pending[index::workers] for index in range(workers)
                     if pending[index::workers]]
            done = [outcome for outcomes in pool.map(migrate_part, parts)
                    for outcome in outcomes]
            migrated += sum(1 for outcome in done if outcome == MIGRATED)
            stalled = pending if all(outcome is None for outcome in done) else None
            if after_batch is not None:
                with store.reading() as uow:
                    left = uow.session.scalar(select(func.count()).where(
                        MigrationItem.migration_id == migration_id,
                        MigrationItem.status == PENDING))
                after_batch(total - left, total)
    with store.writing() as uow:
        uow.session.execute(update(Migration).where(Migration.id == migration_id,
                                                    Migration.status == RUNNING)
                            .values(status=COMPLETED, finished_at=utcnow()))
        uow.commit()
    return migrated


def _pending(store: Store, migration_id: int, limit: int) -> list[int]:
    with store.reading() as uow:
        return list(uow.session.scalars(select(MigrationItem.process_instance_id).where(
            MigrationItem.migration_id == migration_id, MigrationItem.status == PENDING)
            .order_by(MigrationItem.process_instance_id).limit(limit)))


@dataclass(frozen=True)
class _Batch:
    """What every instance of a batch shares, and its plans read ahead of the per-instance
    transactions (by instance id: the lock_version planned at, and the plan)."""

    migration_id: int
    reason: str
    actor: Actor
    plans: dict[int, tuple[int, InstancePlan]]


def _prefetched(uow: UnitOfWork, planner: _Planner,
                ids: list[int]) -> dict[int, tuple[int, InstancePlan]]:
    """The batch's plans in three queries; an instance that changes before its turn (its
    lock_version moved) is planned again under its lock."""
    rows = uow.session.execute(select(ProcessInstance.id, ProcessInstance.status,
                                      ProcessInstance.business_key, ProcessInstance.state,
                                      ProcessInstance.lock_version)
                               .where(ProcessInstance.id.in_(ids))).all()
    tasks, timers = _open_work(uow, ids)
    return {row.id: (row.lock_version, planner.plan(
        row.id, row.status, row.business_key, _as_dict(row.state), tasks.get(row.id, []),
        timers.get(row.id, []))) for row in rows}


_MARK_ITEM = (update(MigrationItem.__table__)
              .where(MigrationItem.__table__.c.migration_id == bindparam("of_migration"),
                     MigrationItem.__table__.c.process_instance_id == bindparam("instance_id"),
                     MigrationItem.__table__.c.status == PENDING)
              .values(status=bindparam("new_status"), reason=bindparam("why"),
                      at=bindparam("when")))
_ADD_ACTION = insert(InstanceAction.__table__)


def _mark(uow: UnitOfWork, batch: _Batch, instance_id: int, status: str, now: dt.datetime,
          reason: str | None = None) -> bool:
    """The instance's item leaves pending; False if another run took it first."""
    return uow.core(_MARK_ITEM, {"of_migration": batch.migration_id,
                                 "instance_id": instance_id, "new_status": status,
                                 "why": reason, "when": now}).rowcount == 1


def _settle(uow: UnitOfWork, batch: _Batch, instance_id: int, status: str, now: dt.datetime,
            reason: str | None = None) -> str | None:
    """Mark and commit (left out, skipped); None when another run took the instance."""
    if not _mark(uow, batch, instance_id, status, now, reason):
        uow.session.rollback()
        return None
    uow.commit()
    return status


def _migrate_one(uow: UnitOfWork, planner: _Planner, batch: _Batch,
                 instance_id: int) -> str | None:
    """One instance in one commit: state, rows, version, action and item together.
    Returns the item's new status, or None when another run had it or it changed under
    us (it stays pending, for the next round)."""
    now = utcnow()
    chosen = planner.chosen
    step_store.relaxed_commit(uow)  # a migration lost in a crash is pending: resumed
    found = step_store.instance_step(uow, instance_id)  # locked first, as every step does
    status = InstanceStatus(found.instance_status)
    if found.definition_id != chosen.source.id or status.finished:
        return _settle(uow, batch, instance_id, SKIPPED, now,
                       f"it is {status} on version {found.process_version} now")
    seen, planned = batch.plans.get(instance_id, (None, None))
    if seen != found.lock_version:
        tasks, timers = _open_work(uow, [instance_id])
        planned = planner.plan(instance_id, status, found.instance_business_key,
                               _as_dict(found.state), tasks.get(instance_id, []),
                               timers.get(instance_id, []))
    if not planned.migratable:
        return _settle(uow, batch, instance_id, LEFT_OUT, now, "; ".join(planned.left_out))
    action = {"kind": MIGRATE, "mapping": chosen.mapping, "replan": planned.replan,
              "redue": planned.redue}
    try:
        outcome = take_step(uow, found, action, now, chosen.target)
    except StepRefused as err:
        return _settle(uow, batch, instance_id, LEFT_OUT, now, str(err))
    except StepFailed as err:  # its worker was stopped: in error now, with an incident
        return _settle(uow, batch, instance_id, LEFT_OUT, now, str(err))
    try:
        _rename_rows(uow, instance_id, chosen.mapping)
        _update_open_rows(uow, instance_id, planned, outcome)
        if _waits_changed(outcome):
            project(uow, instance_id, chosen.key, chosen.new, outcome, now,
                    Mirrored.before(outcome), found.org_revision)
        kept = status if status == InstanceStatus.SUSPENDED else outcome.status
        step_store.save_rehosted_state(
            uow, instance_id, found.lock_version, state_json=outcome.state_json, status=kept,
            error=outcome.error if kept == InstanceStatus.ERROR else None, data=outcome.data,
            at=now, definition_id=chosen.target.id, version=chosen.target.version)
        uow.core(_ADD_ACTION, {
            "process_instance_id": instance_id, "kind": InstanceActionKind.MIGRATE,
            "actor": batch.actor.username, "reason": batch.reason, "status_before": status,
            "status_after": kept, "at": now,
            "details": {"migration_id": batch.migration_id,
                        "from_version": chosen.source.version,
                        "to_version": chosen.target.version, "mapped": planned.mapped,
                        "tasks": planned.tasks, "timers_replanned": list(outcome.elements)}})
        if not _mark(uow, batch, instance_id, MIGRATED, now):
            raise Conflict(f"migration {batch.migration_id} took instance {instance_id} "
                           "in another run")
        uow.commit()
    except Conflict:  # someone changed it (or another run took it) meanwhile
        uow.session.rollback()
        return None
    return MIGRATED


def _waits_changed(outcome) -> bool:
    """Whether the re-hosted instance waits for anything else than before (the mapping
    joined a parallel branch, say): only then are its rows projected anew."""
    return ({task.id for task in outcome.ready} != outcome.ready_before
            or {timer.id for timer in outcome.timers} != outcome.timers_before
            or {event.id for event in outcome.events} != outcome.events_before
            or {task.id for task in outcome.external} != outcome.external_before
            or bool(outcome.withdrawn))


def _rename_rows(uow: UnitOfWork, instance_id: int, mapping: dict[str, str]) -> None:
    """The open rows mirroring a mapped element take its new id (finished ones keep the
    id they were done under, as their events do)."""
    if not mapping:
        return
    for model, still_open in ((Task, Task.status == TaskStatus.READY),
                              (Timer, Timer.status == TimerStatus.PENDING),
                              (ExternalTask, ExternalTask.status == ExternalTaskStatus.OPEN),
                              (EventSubscription, None)):
        for old, new in mapping.items():
            statement = update(model).where(model.process_instance_id == instance_id,
                                            model.element_id == old)
            if still_open is not None:
                statement = statement.where(still_open)
            uow.session.execute(statement.values(element_id=new)
                                .execution_options(synchronize_session=False))


def _update_open_rows(uow: UnitOfWork, instance_id: int, planned: InstancePlan, outcome) -> None:
    """Open tasks take the new version's name, lane, owning department and deadline;
    timers planned again their new due time."""
    rows = {task_id: dict(values) for task_id, values in planned.rows.items()}
    for task in outcome.ready:
        if task.id in planned.redue:
            rows.setdefault(task.id, {})["due_at"] = task.due_at
    for task_id, values in rows.items():
        uow.session.execute(update(Task).where(Task.id == task_id).values(**values)
                            .execution_options(synchronize_session=False))
    replanned = {timer.id: timer.due_at for timer in outcome.timers
                 if timer.element_id in outcome.elements}
    for timer_id, due_at in replanned.items():
        uow.session.execute(update(Timer).where(Timer.id == timer_id).values(due_at=due_at)
                            .execution_options(synchronize_session=False))


# -- running in the background (the API) ---------------------------------------------

_running: set[int] = set()
_running_lock = threading.Lock()


def run_in_background(store: Store, migration_id: int) -> bool:
    """Run (or resume) a migration on a thread of this process; False if one already
    runs it here. Another process running it too cannot migrate an instance twice."""
    with _running_lock:
        if migration_id in _running:
            return False
        _running.add(migration_id)

    def work() -> None:
        try:
            run(store, migration_id)
        finally:
            with _running_lock:
                _running.discard(migration_id)

    threading.Thread(target=work, name=f"migration-{migration_id}", daemon=True).start()
    return True
