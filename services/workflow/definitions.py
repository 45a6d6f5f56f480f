"""Deploying process definitions: validate, version, and compile once per version."""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from engine.errors import BpmnValidationError, Problem
from engine.loader import MAX_BPMN_BYTES, load_processes
from engine.model import ProcessModel
from engine.people import OrgSnapshot
from services.errors import Busy, InvalidInput, NotFound
from services.org.directory import Directory
from services.persistence.models import ProcessDefinition, utcnow
from services.persistence.unit_of_work import Store, UnitOfWork

MAX_UPLOAD_BYTES = MAX_BPMN_BYTES
DEPLOY_SLOTS = 2
DEPLOY_WAIT_SECONDS = 2.0
DEPLOY_RETRY_AFTER_SECONDS = 5
_DEPLOY_SLOTS = threading.BoundedSemaphore(DEPLOY_SLOTS)


@dataclass(frozen=True)
class DeployResult:
    definition: ProcessDefinition
    created: bool
    warnings: tuple[Problem, ...] = ()  # what deploys but does not run as drawn


def lint(source: bytes, filename: str, directory: Directory | None,
         default_department: str | None = None, strict: bool = False,
         org: OrgSnapshot | None = None) -> list[Problem]:
    """Every problem in a BPMN file, or [] when it would deploy; `strict` counts the
    warnings (what deploys but does not run as drawn) as problems too; with `org`, the
    usernames it names are checked too."""
    try:
        models = load_processes(source, filename,
                                directory.is_known_owner if directory else None,
                                default_department, org)
    except BpmnValidationError as err:
        return err.problems
    return [warning for model in models for warning in model.warnings] if strict else []


def deploy(store: Store, source: bytes, filename: str, deployed_by: str | None,
           default_department: str | None = None) -> list[DeployResult]:
    """Deploy each executable process of a file as a new version of its key.

    `default_department` (a department key) owns the user tasks that name no owner.
    Identical content and options to a key's latest version is a no-op returning that
    version; instances already running stay on the version they started with. The file
    is parsed and validated before the write transaction opens: validation is the slow
    part, and an open write (on SQLite, `BEGIN IMMEDIATE`) holds up every other writer.
    """
    models, xml = _validated(store, source, filename, default_department)
    checksum = content_checksum(source, default_department)

    def store_versions() -> list[DeployResult]:
        with store.writing() as uow:
            results = [_store_version(uow, model, xml, checksum, filename, deployed_by,
                                      default_department)
                       for model in models]
            uow.commit()
        return results

    try:
        return store_versions()
    except IntegrityError:
        # Two deploys of one key read the same latest version (PostgreSQL lets both) and
        # numbered theirs alike; the loser numbers again after the winner's.
        return store_versions()


def content_checksum(source: bytes, default_department: str | None) -> str:
    """What a version is compiled from: the file, and the department owning its unowned
    tasks (so the compiled-model cache, keyed by checksum, tells the two apart)."""
    digest = hashlib.sha256(source)
    if default_department is not None:
        digest.update(b"\0default_department=" + default_department.encode("utf-8"))
    return digest.hexdigest()


def _validated(store: Store, source: bytes, filename: str, default_department: str | None
               ) -> tuple[list[ProcessModel], str]:
    """The compiled models and the XML text, or InvalidInput listing every problem.

    At most DEPLOY_SLOTS validations run at once per process, so a burst of large
    uploads cannot take every CPU; a caller that finds no slot soon is told to retry.
    """
    if not _DEPLOY_SLOTS.acquire(timeout=DEPLOY_WAIT_SECONDS):
        raise Busy("other deployments are being validated; retry shortly",
                   retry_after=DEPLOY_RETRY_AFTER_SECONDS)
    try:
        with store.reading() as uow:
            directory = Directory.load(uow)
            org = directory.snapshot(uow)
        if default_department is not None and default_department not in directory.departments:
            raise InvalidInput(f"default department {default_department!r} is not a department",
                               {"default_department": ["Not the key of an active department."]})
        models = load_processes(source, filename, directory.is_known_owner, default_department,
                                org)
    except BpmnValidationError as err:
        raise InvalidInput(f"{filename} is not a deployable BPMN file",
                           [problem.as_dict() for problem in err.problems]) from None
    finally:
        _DEPLOY_SLOTS.release()
    try:
        return models, source.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{filename} is not UTF-8 encoded",
                           [Problem(filename, None, None, "save the file as UTF-8").as_dict()]) from None


def _store_version(uow: UnitOfWork, model: ProcessModel, xml: str, checksum: str,
                   filename: str, deployed_by: str | None,
                   default_department: str | None) -> DeployResult:
    latest = _latest(uow, model.key)
    if latest is not None and latest.checksum == checksum:
        return DeployResult(latest, created=False, warnings=model.warnings)
    definition = ProcessDefinition(
        key=model.key, version=(latest.version + 1) if latest else 1, name=model.name,
        filename=filename, bpmn_xml=xml, checksum=checksum, deployed_at=utcnow(),
        deployed_by=deployed_by, default_department=default_department)
    uow.session.add(definition)
    uow.flush()
    uow.models.put((checksum, model.key), model)
    return DeployResult(definition, created=True, warnings=model.warnings)


def _latest(uow: UnitOfWork, key: str) -> ProcessDefinition | None:
    return uow.session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key)
                               .order_by(ProcessDefinition.version.desc()).limit(1)).first()


def latest_definition(uow: UnitOfWork, key: str) -> ProcessDefinition:
    definition = _latest(uow, key)
    if definition is None:
        raise NotFound(f"no process is deployed with key {key!r}")
    return definition


def list_latest(uow: UnitOfWork) -> list[ProcessDefinition]:
    newest = (select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("version"))
              .group_by(ProcessDefinition.key).subquery())
    return list(uow.session.scalars(
        select(ProcessDefinition).join(newest, (ProcessDefinition.key == newest.c.key)
                                       & (ProcessDefinition.version == newest.c.version))
        .order_by(ProcessDefinition.key)))


def list_versions(uow: UnitOfWork) -> list[ProcessDefinition]:
    """Every deployed version, newest first within each key."""
    return list(uow.session.scalars(select(ProcessDefinition).order_by(
        ProcessDefinition.key, ProcessDefinition.version.desc())))


def get_version(uow: UnitOfWork, key: str, version: int) -> ProcessDefinition:
    definition = uow.session.scalars(select(ProcessDefinition).where(
        ProcessDefinition.key == key, ProcessDefinition.version == version)).first()
    if definition is None:
        raise NotFound(f"process {key!r} has no version {version}")
    return definition


def model_of(uow: UnitOfWork, definition: ProcessDefinition) -> ProcessModel:
    """The compiled model of a deployed version, compiled at most once per Store.

    Keyed by content (checksum, process key), so an entry is never stale: a changed
    diagram is a new version with a new checksum.
    """
    model = cached_model(uow, definition.checksum, definition.key)
    if model is None:
        models = load_processes(definition.bpmn_xml.encode("utf-8"), definition.filename,
                                default_owner=definition.default_department)
        model = next(m for m in models if m.key == definition.key)
        uow.models.put((definition.checksum, definition.key), model)
    return model


def cached_model(uow: UnitOfWork, checksum: str, key: str) -> ProcessModel | None:
    """The compiled model if the Store has it: a step finds it without reading the BPMN text."""
    return uow.models.get((checksum, key))
