"""Files attached to a duty's completion: checked, stored once, shown only to who sees the task.

One rule for the pages and the API: files travel with the completion they belong to (a
multipart request: the form data plus one part per file, named after its `file` field).
No completion can cite a file by its hash, so nobody attaches, or reads through a
completion of their own, a file they never had. Each file is checked against the size
limit and the field's allowed media types, as its content shows them (never its name);
refused files are field errors (422). The form data then holds, per file field, the
list of `{sha256, name, type, size}`, which the completion event records; the bytes are
stored once per content (services.persistence.file_store), and an `attachments` row ties
each to the task. Nothing is kept when the completion fails: see Staging.

Reading a file is reading the task: whoever may see the task (services.identity.access)
may download its files; anyone else gets 404, whether or not the file exists.
"""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy import select

from engine.forms import FormSpec
from services.errors import N_, InvalidInput, NotFound
from services.identity.access import may_see_task
from services.identity.actor import Actor
from services.persistence.file_store import FileStore, FileTooLarge, Staging, UnreadableImage
from services.persistence.models import Attachment, FileBlob, ProcessInstance, Task, utcnow
from services.persistence.unit_of_work import UnitOfWork
from services.workflow import instances, tasks
from services.workflow.definitions import model_of


@dataclass(frozen=True)
class Upload:
    """One uploaded file: the form field it was sent for, its name, its bytes."""

    field: str
    name: str
    stream: BinaryIO


@dataclass(frozen=True)
class Limits:
    max_bytes: int  # per file
    default_types: tuple[str, ...]  # for file fields without dutyflow:accept

    @property
    def megabytes(self) -> str:
        return f"{self.max_bytes / (1024 * 1024):g}"


def task_form(uow: UnitOfWork, task: Task) -> FormSpec:
    """The form of a task as its process version declares it (empty for a manual task)."""
    duty = _duty(uow, task)
    return duty.form if duty else FormSpec()


def task_properties(uow: UnitOfWork, task: Task) -> list[dict[str, str]]:
    """The task's `camunda:properties` as drawn (Camunda shows them as task properties)."""
    duty = _duty(uow, task)
    return [{"name": name, "value": value} for name, value in (duty.properties if duty else ())]


def _duty(uow: UnitOfWork, task: Task):
    row = uow.session.get(ProcessInstance, task.process_instance_id)
    return model_of(uow, row.definition).duties.get(task.element_id)


def complete_with_files(uow: UnitOfWork, actor: Actor, task_id: str, data: dict[str, Any],
                        uploads: list[Upload], staging: Staging, limits: Limits,
                        now: dt.datetime | None = None) -> instances.Completion:
    """Complete a duty with form `data` and the files `uploads`; the files are staged in
    `staging`, whose owner publishes them after the commit (or discards them)."""
    # The form is read only to check files against it: with none, complete_task's own
    # step query answers 404 for a task the actor may not see, as get_task would.
    fields = task_form(uow, tasks.get_task(uow, actor, task_id)).file_fields if uploads else {}
    errors: dict[str, list[str]] = {}
    for upload in uploads:
        if upload.field not in fields:
            errors.setdefault(upload.field, []).append("Not a file field of this form.")
    if errors:
        raise InvalidInput(errors=errors, text=N_("the completion's files do not fit the task's form"))
    references: dict[str, list[dict[str, Any]]] = {}
    accepted = []
    for upload in uploads:
        spec, name = fields[upload.field], _file_name(upload.name)
        problem = None
        try:
            staged = staging.add(upload.stream, limits.max_bytes)
        except FileTooLarge:
            problem = f"{name}: larger than {limits.megabytes} MB."
        except UnreadableImage:
            problem = f"{name}: not a readable image."
        else:
            if not spec.accepts(staged.media_type, limits.default_types):
                allowed = ", ".join(spec.accept or limits.default_types)
                problem = f"{name}: its content is {staged.media_type}, not an allowed type " \
                          f"({allowed})."
        if problem:
            errors.setdefault(upload.field, []).append(problem)
            continue
        chosen = references.setdefault(upload.field, [])
        if all(ref["sha256"] != staged.sha256 for ref in chosen):
            chosen.append({"sha256": staged.sha256, "name": name, "type": staged.media_type,
                           "size": staged.size})
            accepted.append(staged)
    if errors:
        raise InvalidInput(errors=errors, text=N_("some attached files are refused"))

    def attach(uow: UnitOfWork, task: Any) -> None:
        staging.record(uow, accepted)
        for field_id, refs in references.items():
            uow.session.add_all(Attachment(
                task_id=task.id, process_instance_id=task.process_instance_id, field=field_id,
                sha256=ref["sha256"], name=ref["name"], media_type=ref["type"],
                size=ref["size"], created_at=now or utcnow()) for ref in refs)

    return instances.complete_task(uow, actor, task_id, {**(data or {}), **references}, now,
                                   alongside=attach if references else None,
                                   attached=frozenset(references))


def _file_name(name: str | None) -> str:
    """The name as shown and offered on download: no path, no control characters, at most
    255 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    clean = "".join(char for char in base if char.isprintable()).strip()
    return clean[:255] or "file"


@dataclass(frozen=True)
class Download:
    name: str
    media_type: str
    size: int
    stream: BinaryIO


def open_attachment(uow: UnitOfWork, files: FileStore, actor: Actor, task_id: str,
                    sha256: str, thumbnail: bool = False) -> Download:
    """A file attached to a task the actor may see (else NotFound, as for the task)."""
    task = tasks.get_task(uow, actor, task_id)
    attachment = uow.session.scalars(select(Attachment).where(
        Attachment.task_id == task.id, Attachment.sha256 == sha256)).first()
    if attachment is None:
        raise NotFound(f"task {task_id} has no file {sha256}")
    if thumbnail:
        image = uow.session.scalar(select(FileBlob.thumbnail).where(FileBlob.sha256 == sha256))
        if image is None:
            raise NotFound(f"file {sha256} has no thumbnail (not an image)")
        return Download(f"{attachment.name}.jpg", "image/jpeg", len(image), io.BytesIO(image))
    try:
        blob, stream = files.open(uow, sha256)
    except FileNotFoundError:
        raise NotFound(f"the content of file {sha256} is missing from the file store") from None
    return Download(attachment.name, blob.media_type, blob.size, stream)


def visible_tasks(uow: UnitOfWork, actor: Actor, task_ids: list[str]) -> set[str]:
    """Of these tasks, those the actor may see: whose attachments they may open."""
    if not task_ids:
        return set()
    rows = uow.session.scalars(select(Task).where(Task.id.in_(set(task_ids))))
    return {task.id for task in rows if may_see_task(actor, task)}
