"""Deploying process definitions: validate, version, and compile once per version."""
from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from engine.camunda_forms import CamundaForm, is_form_file
from engine.decisions import is_dmn, load_decisions
from engine.errors import BpmnValidationError, Problem
from engine.form_references import FormCatalog
from engine.loader import BPMN_NS, MAX_BPMN_BYTES, load_processes, parse_untrusted_xml
from engine.model import ProcessModel
from engine.people import OrgSnapshot
from services.errors import Busy, InvalidInput, NotFound
from services.org.directory import Directory
from services.persistence.models import ProcessDefinition, utcnow
from services.persistence.unit_of_work import Store, UnitOfWork

MAX_UPLOAD_BYTES = MAX_BPMN_BYTES
MAX_DEPLOYMENT_FILES = 20  # BPMN, DMN and form files deployed together
DEPLOY_SLOTS = 2
DEPLOY_WAIT_SECONDS = 2.0
DEPLOY_RETRY_AFTER_SECONDS = 5
_DEPLOY_SLOTS = threading.BoundedSemaphore(DEPLOY_SLOTS)


@dataclass(frozen=True)
class DeployedDecision:
    """A DMN decision deployed with the diagram (in its version, see deploy_files)."""

    id: str
    name: str
    file: str


@dataclass(frozen=True)
class DeployedForm:
    """A Camunda Form deployed with the diagram, and the elements that show it."""

    file: str
    id: str | None
    elements: tuple[str, ...]


@dataclass(frozen=True)
class DeployResult:
    definition: ProcessDefinition
    created: bool
    warnings: tuple[Problem, ...] = ()  # what deploys but does not run as drawn
    decisions: tuple[DeployedDecision, ...] = ()
    forms: tuple[DeployedForm, ...] = ()


File = tuple[str, bytes]  # (file name, content) of one file of a deployment


def split_files(files: Sequence[File]) -> tuple[list[File], list[File]]:
    """The deployment's BPMN files and the files deployed with them: DMN files (told apart
    by their name, else by their root element's namespace) and Camunda Forms (`.form`)."""
    others = [(name, source) for name, source in files
              if is_form_file(name) or is_dmn(name, source)]
    return [file for file in files if file not in others], others


def lint(source: bytes, filename: str, directory: Directory | None,
         default_department: str | None = None, strict: bool = False,
         org: OrgSnapshot | None = None, decision_files: Sequence[File] = (),
         known_processes: Collection[str] = ()) -> list[Problem]:
    """Every problem in a BPMN file (with the DMN files it would be deployed with), or []
    when it would deploy; `strict` counts the warnings (what deploys but does not run as
    drawn, a call activity into a process not among `known_processes`: those deployed and
    those linted with it) as problems too; with `org`, the usernames it names are checked
    too."""
    try:
        models = load_processes(source, filename,
                                directory.is_known_owner if directory else None,
                                default_department, org, decision_files)
    except BpmnValidationError as err:
        return err.problems
    if not strict:
        return []
    return [warning for model in models
            for warning in (*model.warnings, *call_warnings(model, filename, known_processes))]


def call_warnings(model: ProcessModel, filename: str,
                  known_processes: Collection[str]) -> tuple[Problem, ...]:
    """A call activity into a process not deployed yet deploys (it resolves when the call
    happens) but would fail now: a warning each."""
    return tuple(Problem(filename, call.line, call.element_id,
                         f"calls process {call.called!r}, which is not deployed yet: the "
                         "call fails (an incident) unless it is deployed before it happens")
                 for call in model.calls.values() if call.called not in known_processes)


def process_keys(files: Sequence[File]) -> set[str]:
    """The ids of the processes in BPMN files (those that do not parse have none)."""
    keys = set()
    for filename, source in files:
        try:
            root = parse_untrusted_xml(source, filename)
        except BpmnValidationError:
            continue
        keys.update(process.get("id") for process in root.iterfind(f"{{{BPMN_NS}}}process"))
    return keys


def deployed_keys(uow: UnitOfWork, keys: Collection[str]) -> set[str]:
    """Which of these process keys have a deployed version."""
    return set(uow.session.scalars(select(ProcessDefinition.key).where(
        ProcessDefinition.key.in_(list(keys))).distinct())) if keys else set()


def lint_decisions(decision_files: Sequence[File]) -> list[Problem]:
    """Every problem of DMN and form files on their own."""
    problems = FormCatalog([file for file in decision_files if is_form_file(file[0])]).problems
    try:
        load_decisions([file for file in decision_files if not is_form_file(file[0])])
    except BpmnValidationError as err:
        return problems + err.problems
    return problems


def deploy(store: Store, source: bytes, filename: str, deployed_by: str | None,
           default_department: str | None = None) -> list[DeployResult]:
    """Deploy one BPMN file on its own (see deploy_files)."""
    return deploy_files(store, [(filename, source)], deployed_by, default_department)


def deploy_files(store: Store, files: Sequence[File], deployed_by: str | None,
                 default_department: str | None = None) -> list[DeployResult]:
    """Deploy the executable processes of one or more BPMN files, with the DMN files their
    business rule tasks call, each process as a new version of its key.

    `default_department` (a department key) owns the user tasks that name no owner. A
    version is its BPMN file, the deployment's DMN files and the options: identical ones
    to a key's latest version are a no-op returning that version, and a changed decision
    table makes a new version of each process deployed with it. Instances already running
    stay on the version they started with. Files are parsed and validated before the
    write transaction opens: validation is the slow part, and an open write (on SQLite,
    `BEGIN IMMEDIATE`) holds up every other writer.
    """
    bpmn, dmn = split_files(files)
    names = [name for name, _ in files]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise InvalidInput("each file of a deployment needs its own name",
                           [Problem(name, None, None, "two files of the deployment have this "
                                                      "name").as_dict() for name in duplicated])
    if not bpmn:
        raise InvalidInput("a deployment needs a BPMN diagram",
                           [Problem(name, None, None, "decisions deploy together with the "
                                                      "diagram whose tasks use them"
                                                      ).as_dict() for name, _ in dmn])
    validated = _validated(store, bpmn, dmn, default_department)
    decisions = [file for file in dmn if not is_form_file(file[0])]
    forms = [file for file in dmn if is_form_file(file[0])]
    stored_dmn = json.dumps([{"filename": name, "xml": text} for name, text in
                             _texts(decisions)], ensure_ascii=False) if decisions else None
    stored_forms = json.dumps([{"filename": name, "json": text} for name, text in
                               _texts(forms)], ensure_ascii=False) if forms else None

    in_deployment = {model.key for models, _ in validated for model in models}
    called = {call.called for models, _ in validated for model in models
              for call in model.calls.values()} - in_deployment

    def store_versions() -> list[DeployResult]:
        deployment_id = str(uuid.uuid4())
        with store.writing() as uow:
            known = in_deployment | deployed_keys(uow, called)
            results = [_store_version(uow, model, xml, content_checksum(source, default_department,
                                                                        dmn),
                                      filename, deployed_by, default_department, stored_dmn,
                                      stored_forms, deployment_id,
                                      call_warnings(model, filename, known))
                       for (filename, source), (models, xml) in zip(bpmn, validated)
                       for model in models]
            uow.commit()
        return results

    try:
        return store_versions()
    except IntegrityError:
        # Two deploys of one key read the same latest version (PostgreSQL lets both) and
        # numbered theirs alike; the loser numbers again after the winner's.
        return store_versions()


def content_checksum(source: bytes, default_department: str | None,
                     decision_files: Sequence[File] = ()) -> str:
    """What a version is compiled from: the file, the department owning its unowned tasks
    and the DMN files deployed with it (so the compiled-model cache, keyed by checksum,
    tells them apart)."""
    digest = hashlib.sha256(source)
    if default_department is not None:
        digest.update(b"\0default_department=" + default_department.encode("utf-8"))
    for name, content in sorted(decision_files):
        digest.update(b"\0dmn=" + hashlib.sha256(name.encode("utf-8")).digest()
                      + hashlib.sha256(content).digest())
    return digest.hexdigest()


def _validated(store: Store, bpmn: Sequence[File], dmn: Sequence[File],
               default_department: str | None) -> list[tuple[list[ProcessModel], str]]:
    """Each BPMN file's compiled models and XML text, or InvalidInput listing every problem
    of every file.

    At most DEPLOY_SLOTS validations run at once per process, so a burst of large
    uploads cannot take every CPU; a caller that finds no slot soon is told to retry.
    """
    if not _DEPLOY_SLOTS.acquire(timeout=DEPLOY_WAIT_SECONDS):
        raise Busy("other deployments are being validated; retry shortly",
                   retry_after=DEPLOY_RETRY_AFTER_SECONDS)
    problems: list[Problem] = []
    compiled: list[list[ProcessModel]] = []
    try:
        with store.reading() as uow:
            directory = Directory.load(uow)
            org = directory.snapshot(uow)
        if default_department is not None and default_department not in directory.departments:
            raise InvalidInput(f"default department {default_department!r} is not a department",
                               {"default_department": ["Not the key of an active department."]})
        for filename, source in bpmn:
            try:
                compiled.append(load_processes(source, filename, directory.is_known_owner,
                                               default_department, org, dmn))
            except BpmnValidationError as err:
                problems.extend(problem for problem in err.problems if problem not in problems)
    finally:
        _DEPLOY_SLOTS.release()
    if problems:
        failing = ", ".join(dict.fromkeys(problem.file for problem in problems))
        raise InvalidInput(f"{failing} is not a deployable BPMN file" if len(bpmn) == 1 and not dmn
                           else f"the deployment has problems in {failing}",
                           [problem.as_dict() for problem in problems])
    _check_keys(bpmn, compiled)
    texts = dict(_texts(bpmn))
    return [(models, texts[filename]) for (filename, _), models in zip(bpmn, compiled)]


def _check_keys(bpmn: Sequence[File], compiled: list[list[ProcessModel]]) -> None:
    """Two files of one deployment may not define the same process."""
    seen: dict[str, str] = {}
    for (filename, _), models in zip(bpmn, compiled):
        for model in models:
            if model.key in seen:
                raise InvalidInput(f"process {model.key!r} is in two files of the deployment",
                                   [Problem(filename, None, model.key,
                                            f"process {model.key!r} is also in "
                                            f"{seen[model.key]}").as_dict()])
            seen[model.key] = filename


def _texts(files: Sequence[File]) -> list[tuple[str, str]]:
    texts = []
    for filename, source in files:
        try:
            texts.append((filename, source.decode("utf-8")))
        except UnicodeDecodeError:
            raise InvalidInput(f"{filename} is not UTF-8 encoded",
                               [Problem(filename, None, None, "save the file as UTF-8").as_dict()]
                               ) from None
    return texts


def _store_version(uow: UnitOfWork, model: ProcessModel, xml: str, checksum: str,
                   filename: str, deployed_by: str | None,
                   default_department: str | None, dmn_files: str | None,
                   form_files: str | None = None, deployment_id: str | None = None,
                   more_warnings: tuple[Problem, ...] = ()) -> DeployResult:
    decisions = tuple(DeployedDecision(decision.id, decision.name, decision.file)
                      for decision in model.decisions.values())
    warnings = model.warnings + more_warnings
    forms = deployed_forms(model)
    latest = _latest(uow, model.key)
    if latest is not None and latest.checksum == checksum:
        return DeployResult(latest, created=False, warnings=warnings, decisions=decisions,
                            forms=forms)
    definition = ProcessDefinition(
        key=model.key, version=(latest.version + 1) if latest else 1, name=model.name,
        filename=filename, bpmn_xml=xml, checksum=checksum, deployed_at=utcnow(),
        deployed_by=deployed_by, default_department=default_department, dmn_files=dmn_files,
        form_files=form_files, deployment_id=deployment_id)
    uow.session.add(definition)
    uow.flush()
    uow.models.put((checksum, model.key), model)
    return DeployResult(definition, created=True, warnings=warnings, decisions=decisions,
                        forms=forms)


def deployed_forms(model: ProcessModel) -> tuple[DeployedForm, ...]:
    """The Camunda Forms a process shows, each with the elements showing it."""
    shown = [(model.start_form_element, model.start_form)] + \
        [(element_id, duty.form) for element_id, duty in model.duties.items()]
    by_file: dict[str, tuple[str | None, list[str]]] = {}
    for element_id, form in shown:
        if isinstance(form, CamundaForm) and element_id:
            by_file.setdefault(form.file, (form.form_id, []))[1].append(element_id)
    return tuple(DeployedForm(file, form_id, tuple(elements))
                 for file, (form_id, elements) in by_file.items())


def _latest(uow: UnitOfWork, key: str) -> ProcessDefinition | None:
    return uow.session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key)
                               .order_by(ProcessDefinition.version.desc()).limit(1)).first()


def latest_definition(uow: UnitOfWork, key: str) -> ProcessDefinition:
    definition = _latest(uow, key)
    if definition is None:
        raise NotFound(f"no process is deployed with key {key!r}")
    return definition


def latest_decision_files(uow: UnitOfWork, key: str) -> list[File]:
    """The DMN and form files deployed with a key's latest version ([] for none, or no
    such key): a diagram edited in the modeler deploys again with them."""
    latest = _latest(uow, key)
    return [(name, text.encode("utf-8")) for name, text in latest.companion_files()] \
        if latest is not None else []


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
    diagram is a new version with a new checksum. A model whose user tasks name forms its
    deployment lacks shows the latest deployed ones: keyed by those too.
    """
    model = uow.models.get((definition.checksum, definition.key))
    if model is None:
        model = _compile(definition)
        uow.models.put((definition.checksum, definition.key), model)
    if not model.missing_forms:
        return model
    latest = latest_files_holding(uow, (), model.missing_forms)
    if not latest:
        return model
    cache_key = (with_latest(definition.checksum, latest), definition.key)
    found = uow.models.get(cache_key)
    if found is None:
        found = _compile(definition, latest)
        uow.models.put(cache_key, found)
    return found


def _compile(definition: ProcessDefinition, latest: Sequence[tuple[str, str]] = ()
             ) -> ProcessModel:
    models = load_processes(definition.bpmn_xml.encode("utf-8"), definition.filename,
                            default_owner=definition.default_department,
                            decision_files=[(name, text.encode("utf-8")) for name, text
                                            in definition.companion_files()],
                            latest_decision_files=[(name, text.encode("utf-8"))
                                                   for name, text in latest])
    return next(m for m in models if m.key == definition.key)


def with_latest(checksum: str, latest: Sequence[tuple[str, str]]) -> str:
    """The key of a model compiled with these latest deployed files: a newer decision or
    form deployed is a new key, so a cached model is never stale."""
    return checksum + ":" + hashlib.sha256(json.dumps(latest).encode("utf-8")).hexdigest()[:16]


def latest_files_holding(uow: UnitOfWork, decision_ids: Sequence[str],
                         form_ids: Sequence[str] = ()) -> tuple[tuple[str, str], ...]:
    """(file name, text) of the latest deployed DMN file holding each decision id, and of
    the latest deployed .form file of each form id (Camunda's "latest" binding); ids
    deployed nowhere are left out. Cached per newest deployment: a new deploy may bring a
    newer one."""
    newest = uow.session.scalar(select(func.max(ProcessDefinition.id)))
    cache_key = ("latest-files", newest, tuple(decision_ids), tuple(form_ids))
    cached = uow.models.get(cache_key)
    if cached is not None:
        return cached
    files = _latest_decision_files(uow, decision_ids) + _latest_form_files(uow, form_ids)
    uow.models.put(cache_key, files)
    return files


def _latest_decision_files(uow: UnitOfWork, decision_ids: Sequence[str]
                           ) -> tuple[tuple[str, str], ...]:
    def decisions_in(filename: str, text: str) -> set[str]:
        try:
            return set(load_decisions([(filename, text.encode("utf-8"))]))
        except BpmnValidationError:
            return set()

    return _latest_holding(uow, decision_ids, ProcessDefinition.dmn_files, "xml", decisions_in)


def _latest_form_files(uow: UnitOfWork, form_ids: Sequence[str]) -> tuple[tuple[str, str], ...]:
    def forms_in(filename: str, text: str) -> set[str]:
        return set(FormCatalog([(filename, text.encode("utf-8"))]).by_id)

    return _latest_holding(uow, form_ids, ProcessDefinition.form_files, "json", forms_in)


def _latest_holding(uow: UnitOfWork, ids: Sequence[str], column, text_key: str,
                    ids_in: Callable[[str, str], set[str]]) -> tuple[tuple[str, str], ...]:
    """(file name, text) of the newest deployed companion file (in `column`, its text under
    `text_key`) holding each id, newest deployment first; one file holding several ids is
    listed once."""
    if not ids:
        return ()
    wanted, found = set(ids), {}
    rows = uow.session.execute(select(column).where(column.is_not(None))
                               .order_by(ProcessDefinition.id.desc()))
    for (files,) in rows:
        for item in json.loads(files):
            held = ids_in(item["filename"], item[text_key])
            for an_id in wanted & held:
                found[an_id] = (item["filename"], item[text_key])
            wanted -= held
        if not wanted:
            break
    return tuple(dict.fromkeys(found[an_id] for an_id in sorted(found)))


def cached_model(uow: UnitOfWork, checksum: str, key: str) -> ProcessModel | None:
    """The compiled model if the Store has it: a step finds it without reading the BPMN
    text (not one that shows the latest deployed forms: model_of finds which they are)."""
    model = uow.models.get((checksum, key))
    return None if model is not None and model.missing_forms else model
