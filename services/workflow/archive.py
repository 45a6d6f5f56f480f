"""Retention: finished instances whose pay is settled leave the live tables.

An instance may be archived once it is completed or cancelled before the cut-off month
and every pay period holding one of its completions has a final payroll run: from then
on nothing can change it and nothing pays from it again. Archiving moves its working
rows (the engine state and every row that hangs off the instance or its tasks: tasks,
their candidates, history, comments, follow-ups and escalations, timers, subscriptions,
external tasks, incidents) into one JSON document in archived_instances and deletes them
from the live tables, which is what keeps inboxes, timers and indexes small over years.

The ledger stays: completion events and instance actions are append-only evidence that
payslips, reports and the instance page read, so the instance row stays as their anchor,
with its status, data and `archived_at`. Which tables are working rows is read from the
schema's foreign keys, so a table added later that hangs off an instance is archived
with it unless it is declared ledger here.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import delete, select, update

from engine.model import InstanceStatus
from payroll.periods import Period
from services.errors import InvalidInput
from services.identity.actor import Actor
from services.persistence.logical_backup import json_encoder
from services.persistence.models import (
    ArchivedInstance,
    Base,
    PayrollRun,
    ProcessInstance,
    TaskEvent,
    utcnow,
)
from services.persistence.statuses import RunStatus
from services.persistence.unit_of_work import Store, UnitOfWork

# Append-only evidence, and the archive itself: never moved.
LEDGER = frozenset({"task_events", "instance_actions", "archived_instances"})
FINISHED = (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED)
BATCH = 200


@dataclass
class Outcome:
    archived: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> instances

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def archive(store: Store, actor: Actor, before: str, timezone: str, dry_run: bool = False,
            batch: int = BATCH) -> Outcome:
    """Archive what may be archived before period `before` (YYYY-MM), a batch per
    transaction, so a long run holds no lock for long and an interruption loses nothing."""
    actor.require("admin")
    try:
        cutoff = Period.parse(before, timezone)
    except ValueError as err:
        raise InvalidInput(str(err)) from None
    outcome, after_id = Outcome(), 0
    while True:
        with store.writing() as uow:
            candidates = uow.session.execute(
                select(ProcessInstance.id, ProcessInstance.updated_at)
                .where(ProcessInstance.status.in_(FINISHED),
                       ProcessInstance.archived_at.is_(None),
                       ProcessInstance.updated_at < cutoff.start,
                       ProcessInstance.id > after_id)
                .order_by(ProcessInstance.id).limit(batch)).all()
            if not candidates:
                return outcome
            after_id = candidates[-1].id
            settled = _settled(uow, [row.id for row in candidates], timezone, outcome)
            if settled and not dry_run:
                _move(uow, settled, actor.username)
            outcome.archived += len(settled)
            uow.commit()


def _settled(uow: UnitOfWork, ids: list[int], timezone: str, outcome: Outcome) -> list[int]:
    """The instances whose every completion falls in a period with a final run."""
    final = set(uow.session.scalars(select(PayrollRun.period)
                                    .where(PayrollRun.status == RunStatus.FINAL)))
    open_periods: dict[int, str] = {}
    for instance_id, completed_at in uow.session.execute(
            select(TaskEvent.process_instance_id, TaskEvent.completed_at)
            .where(TaskEvent.process_instance_id.in_(ids))):
        period = str(Period.of(completed_at, timezone))
        if period not in final:
            open_periods.setdefault(instance_id, period)
    for period in open_periods.values():
        outcome.skip(f"pay period {period} is not final")
    return [instance_id for instance_id in ids if instance_id not in open_periods]


def _move(uow: UnitOfWork, ids: list[int], by: str) -> None:
    documents: dict[int, dict] = {instance_id: {} for instance_id in ids}
    state = dict(uow.session.execute(select(ProcessInstance.id, ProcessInstance.state)
                                     .where(ProcessInstance.id.in_(ids))).all())
    moved = []
    for table, key, parents, rows in _working_rows(uow, ids):
        encoders = [(column.name, json_encoder(column.type)) for column in table.columns]
        for row, owner in rows:
            documents[owner].setdefault(table.name, []).append(
                {name: encode(row._mapping[name]) for name, encode in encoders})
        moved.append((table, key, parents))
    for table, key, parents in reversed(moved):  # children before the rows they point at
        for chunk in _chunks(parents, 500):
            uow.session.execute(delete(table).where(key.parent.in_(chunk)))
    now = utcnow()
    for instance_id in ids:
        uow.session.add(ArchivedInstance(
            instance_id=instance_id, archived_at=now, archived_by=by,
            document={"state": state[instance_id], "rows": documents[instance_id]}))
    uow.session.execute(update(ProcessInstance).where(ProcessInstance.id.in_(ids))
                        .values(state={}, archived_at=now))


def _working_rows(uow: UnitOfWork, ids: list[int]) -> Iterator[tuple]:
    """Each working table (parents first), the foreign key that ties it to its parent,
    the parent keys, and its rows of these instances, each with the instance it belongs
    to: followed down the foreign keys from process_instances."""
    owners: dict[str, dict] = {"process_instances": {instance_id: instance_id
                                                     for instance_id in ids}}
    for table in Base.metadata.sorted_tables:
        if table.name in LEDGER or table.name in owners:
            continue
        key = next((key for key in table.foreign_keys
                    if key.column.table.name in owners), None)
        if key is None:
            continue
        owner_of = owners[key.column.table.name]
        parents = list(owner_of)
        rows = [(row, owner_of[row._mapping[key.parent.name]])
                for chunk in _chunks(parents, 500)
                for row in uow.session.execute(select(table).where(key.parent.in_(chunk)))]
        if not rows:
            continue
        primary = list(table.primary_key.columns)
        if len(primary) == 1:  # rows of other tables may point at these
            owners[table.name] = {row._mapping[primary[0].name]: owner for row, owner in rows}
        yield table, key, parents, rows


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def archived_document(uow: UnitOfWork, instance_id: int) -> dict | None:
    row = uow.session.get(ArchivedInstance, instance_id)
    return None if row is None else row.document
