"""What every use case that takes an engine step shares: the model of the instance's
version, the step in a sandbox worker (a stopped worker is an incident), and the incident
of an instance that went into error with the step."""
from __future__ import annotations

import datetime as dt
from typing import Any

from engine.model import InstanceStatus, ProcessModel
from engine.sandbox_pool import StepAborted
from engine.steps import COMPLETE, FIRE_TIMER, StepOutcome
from services.errors import StepFailed
from services.persistence import step_store
from services.persistence.models import ProcessDefinition
from services.persistence.unit_of_work import UnitOfWork
from services.workflow import engine_steps
from services.workflow.definitions import cached_model, model_of


def model_for(uow: UnitOfWork, found) -> ProcessModel:
    """The compiled model of a step's instance (`found`: its step columns)."""
    return cached_model(uow, found.checksum, found.definition_key) or \
        model_of(uow, uow.session.get(ProcessDefinition, found.definition_id))


def take_step(uow: UnitOfWork, found, action: dict[str, Any], now: dt.datetime,
              definition: ProcessDefinition | None = None) -> StepOutcome:
    """Run the step on the instance `found` (its locked step columns) in a sandbox worker,
    on its own version or on `definition` (a retry on a fixed version). A stopped worker
    puts the instance in error with an incident (committed) and fails the use case with
    StepFailed."""
    checksum, key, definition_id = (found.checksum, found.definition_key, found.definition_id) \
        if definition is None else (definition.checksum, definition.key, definition.id)
    try:
        return engine_steps.run(uow, checksum, key, definition_id, found.state, action, now,
                                found.org_revision)
    except StepAborted as err:
        element = found.element_id if action["kind"] == COMPLETE else None
        message = f"{element}: {err}" if element else str(err)
        step_store.mark_error(uow, found.instance_id, found.lock_version, message, now)
        engine_steps.record_incident(uow, instance_id=found.instance_id,
                                     process_key=found.instance_process_key, element_id=element,
                                     kind="aborted", message=str(err), data=None, at=now)
        if action["kind"] == FIRE_TIMER:
            step_store.fail_timer(uow, action["timer_id"])  # not fired again by every poll
        uow.commit()
        raise StepFailed(f"the process instance {found.instance_id} is now in error: "
                         f"{message}") from None


def note_new_error(uow: UnitOfWork, instance_id: int, process_key: str,
                    status_before: str | None, outcome: StepOutcome, now: dt.datetime) -> None:
    """An instance that went into error in this step gets an incident, in the same commit;
    one that left error (a completion after a stopped worker) has its incidents resolved."""
    if status_before == InstanceStatus.ERROR and outcome.status != InstanceStatus.ERROR:
        engine_steps.resolve_incidents(uow, instance_id, now)
    if outcome.status == InstanceStatus.ERROR and status_before != InstanceStatus.ERROR:
        engine_steps.record_incident(uow, instance_id=instance_id, process_key=process_key,
                                     element_id=outcome.error_element, kind="error",
                                     message=outcome.error or "the step failed",
                                     data=outcome.data, at=now)
