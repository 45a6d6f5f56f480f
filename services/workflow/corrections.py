"""Corrections: a supervisor fixes the recorded outcome of a completed duty.

Events are never edited. A correction is a new event referencing the original,
carrying the full corrected form data; payroll reads the latest correction in
place of the original's data. The process itself does not move back: the
correction fixes the record (and so the pay), not the work already done since.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.errors import FormValidationError
from services.errors import InvalidInput, NotFound, PermissionDenied
from services.identity.actor import Actor
from services.persistence.models import ProcessInstance, TaskEvent, utcnow
from payroll.ledger import EventKind
from services.persistence.unit_of_work import UnitOfWork
from services.workflow.definitions import get_version, model_of
from services.workflow.events import correction_event


def effective_data(uow: UnitOfWork, event: TaskEvent) -> dict[str, Any]:
    return dict(corrected_data(uow, [event.id]).get(event.id, event.data))


def corrected_data(uow: UnitOfWork, event_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The latest correction's data for each of these events that has one (one query).

    `kind = 'correction'` lets the partial index `ix_task_events_corrects` serve it.
    """
    latest: dict[int, dict[str, Any]] = {}
    for chunk in (event_ids[i:i + 500] for i in range(0, len(event_ids), 500)):
        rows = uow.session.execute(
            select(TaskEvent.corrects_event_id, TaskEvent.data)
            .where(TaskEvent.kind == EventKind.CORRECTION, TaskEvent.corrects_event_id.in_(chunk))
            .order_by(TaskEvent.id))
        for original, data in rows:
            latest[original] = data  # ordered by id: the last one wins
    return latest


def correct_event(uow: UnitOfWork, actor: Actor, event_id: int, changes: dict[str, Any],
                  reason: str) -> TaskEvent:
    original = uow.session.get(TaskEvent, event_id)
    if original is None or original.kind != EventKind.COMPLETED:
        raise NotFound(f"no completion event {event_id}")
    if not (actor.is_admin or original.department_key in actor.supervised):
        raise PermissionDenied("only the head of the duty's department, a manager above it "
                               "or an admin may correct it")
    if not (reason or "").strip():
        raise InvalidInput("a correction needs a reason", {"reason": ["Field may not be blank."]})
    definition = get_version(uow, original.process_key, original.process_version)
    duty = model_of(uow, definition).duties.get(original.element_id)
    attached = sorted(set(changes or {}) & set(duty.form.file_fields if duty else {}))
    if attached:
        raise InvalidInput("attached files are evidence and cannot be corrected",
                           {name: ["Attached files cannot be corrected."] for name in attached})
    merged = {**effective_data(uow, original), **(changes or {})}
    try:
        # The process data gives a Camunda Form's `valuesKey` options, as at completion.
        instance = uow.session.get(ProcessInstance, original.process_instance_id)
        context = instance.data if instance is not None and isinstance(instance.data, dict) \
            else {}
        cleaned = duty.form.validate(merged, context=context) if duty else merged
    except FormValidationError as err:
        raise InvalidInput("the corrected data does not fit the task's form", err.errors) from None
    correction = TaskEvent(**correction_event(original, actor, cleaned, reason.strip(), utcnow()))
    uow.session.add(correction)
    uow.commit()
    return correction
