"""Engine steps as the services take them: in the sandbox pool, with incidents recorded.

Every use case that moves an instance (start, complete, fire a timer) hands the step to
`run`, which runs it in a sandbox worker process (engine/sandbox_pool.py) and never in
the service's own: a diagram's code cannot freeze, wedge or bloat the service. The pool
is one per process, started lazily and configured from the environment; a forked process
(a gunicorn or Celery worker) never uses its parent's, it starts its own.
"""
from __future__ import annotations

import datetime as dt
import os
import threading
from typing import Any

from sqlalchemy import update

from engine.sandbox_pool import ModelRef, ModelSource, OrgRef, SandboxLimits, SandboxPool
from engine.steps import StepOutcome
from services.notify import events as notify_events
from services.org.directory import Directory
from services.persistence.models import Incident, ProcessDefinition
from services.persistence.unit_of_work import UnitOfWork
from services.workflow import definitions

_pool: SandboxPool | None = None
_pool_lock = threading.Lock()


def limits_from_env(environ: dict[str, str] | None = None) -> SandboxLimits:
    """SandboxLimits from DUTYFLOW_SANDBOX_* variables (README, Configuration)."""
    env = os.environ if environ is None else environ
    defaults = SandboxLimits()
    return SandboxLimits(
        workers=int(env.get("DUTYFLOW_SANDBOX_WORKERS", defaults.workers)),
        step_seconds=float(env.get("DUTYFLOW_SANDBOX_STEP_SECONDS", defaults.step_seconds)),
        memory_bytes=int(env.get("DUTYFLOW_SANDBOX_MEMORY_MB",
                                 defaults.memory_bytes // 2**20)) * 2**20,
        max_engine_passes=int(env.get("DUTYFLOW_MAX_ENGINE_PASSES",
                                      defaults.max_engine_passes)))


def pool() -> SandboxPool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = SandboxPool(limits_from_env())
        return _pool


def _forget_inherited_pool() -> None:
    """In a forked child (gunicorn or Celery workers): the parent's pool, its worker
    processes and pipes are the parent's; the child starts a pool of its own when needed."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_inherited_pool)


def use_pool(new: SandboxPool | None) -> SandboxPool | None:
    """Install another pool (tests with tighter limits; `serve` warming its workers);
    returns the one it replaces, which the caller closes or puts back."""
    global _pool
    with _pool_lock:
        previous, _pool = _pool, new
        return previous


def run(uow: UnitOfWork, checksum: str, key: str, definition_id: int, state: str | None,
        action: dict[str, Any], now: dt.datetime, org_revision: str | None) -> StepOutcome:
    """Take one step in a sandbox worker under org revision `org_revision` (read with the
    step's own query). Raises StepRefused or StepAborted."""
    model = definitions.cached_model(uow, checksum, key) or \
        definitions.model_of(uow, uow.session.get(ProcessDefinition, definition_id))
    latest = definitions.latest_files_holding(uow, model.missing_decisions,
                                              model.missing_forms) \
        if model.missing_decisions or model.missing_forms else ()
    if latest:  # the worker compiles it again when a newer decision or form is deployed
        checksum = definitions.with_latest(checksum, latest)

    def source() -> ModelSource:
        definition = uow.session.get(ProcessDefinition, definition_id)
        return ModelSource(definition.bpmn_xml, definition.filename,
                           definition.default_department, definition.companion_files(), latest)

    def org() -> dict[str, Any]:
        return Directory.at_revision(uow, org_revision).snapshot(uow).to_json()

    return pool().run(ModelRef(checksum, key, source), state, action, now,
                      OrgRef(org_revision, org))


def record_incident(uow: UnitOfWork, *, instance_id: int | None, process_key: str,
                    element_id: str | None, kind: str, message: str,
                    data: dict[str, Any] | None, at: dt.datetime) -> None:
    """An incident, in the caller's transaction (with the state change that caused it);
    the designers and admins are told of it in the same transaction."""
    incident = Incident(process_instance_id=instance_id, process_key=process_key,
                        element_id=element_id, kind=kind, message=message, data=data,
                        created_at=at)
    uow.session.add(incident)
    uow.flush()
    notify_events.incident_opened(uow, incident, at)


def resolve_incidents(uow: UnitOfWork, instance_id: int, at: dt.datetime) -> None:
    """The instance's open incidents are over (it ran on, or was cancelled), in the
    caller's transaction."""
    uow.session.execute(update(Incident).where(Incident.process_instance_id == instance_id,
                                               Incident.resolved_at.is_(None))
                        .values(resolved_at=at).execution_options(synchronize_session=False))
