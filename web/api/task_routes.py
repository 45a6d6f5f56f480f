"""Inboxes and the work on a task: read, claim, assign, complete, comment."""
from __future__ import annotations

import hashlib

from flask import request, url_for

from services.persistence import idempotency
from services.persistence.file_store import MEDIA_TYPES
from services.workflow import attachments, tasks
from services.workflow.views import iso, task_view
from web.uploads import file_store, limits, send_attachment, uploads

from . import actor, bp, request_json, store
from .contract import operation
from .schemas import (AssignRequest, Comment, CommentRequest, CompleteHeaders,
                      CompleteRequest, Completion, ReplayHeaders, Task, TaskDetail,
                      TaskHandover, TaskListQuery, TaskPageHeaders, TransferRequest)


@bp.get("/tasks")
@operation({200: Task(many=True)}, query=TaskListQuery, reply_headers={200: TaskPageHeaders},
           problems=(403, 422))
def list_tasks(query: dict):
    """Tasks in the caller's scope (mine, department, or all for admins).

    One page; where more follow, X-Next-Cursor and a Link rel=next header point to the next.
    """
    query["offset"] = (query.pop("page") - 1) * query["limit"]
    with store().reading() as uow:
        page = tasks.list_tasks(uow, actor(), tasks.TaskQuery(**query))
        views = [task_view(row) for row in page.tasks]
    if not page.next_cursor:
        return views
    args = {**request.args.to_dict(), "cursor": page.next_cursor}
    args.pop("page", None)
    return views, 200, {"next_cursor": page.next_cursor,
                        "link": f'<{url_for("api.list_tasks", **args)}>; rel="next"'}


@bp.get("/tasks/<task_id>")
@operation({200: TaskDetail}, problems=(404,))
def get_task(task_id: str):
    """A task with its form and its properties (camunda:properties, as drawn)."""
    with store().reading() as uow:
        task = tasks.get_task(uow, actor(), task_id)
        return {**task_view(task), "form": attachments.task_form(uow, task).as_dict(),
                "properties": attachments.task_properties(uow, task),
                "variables": task.local_data or {}}


def _task_action(action, task_id: str, *args) -> dict:
    with store().writing() as uow:
        return task_view(action(uow, actor(), task_id, *args))


@bp.post("/tasks/<task_id>/claim")
@operation({200: Task}, problems=(403, 409))
def claim_task(task_id: str):
    """Take a task; 409 if someone else holds it."""
    return _task_action(tasks.claim, task_id)


@bp.post("/tasks/<task_id>/unclaim")
@operation({200: Task}, problems=(403, 409))
def unclaim_task(task_id: str):
    """Release a held task."""
    return _task_action(tasks.unclaim, task_id)


@bp.post("/tasks/<task_id>/assign")
@operation({200: Task}, body=AssignRequest, problems=(403, 409, 422))
def assign_task(task_id: str, body: dict):
    """Assign a task to a member of its department (head, manager above, or admin)."""
    return _task_action(tasks.assign, task_id, body["username"])


@bp.post("/tasks/<task_id>/transfer")
@operation({200: Task}, body=TransferRequest, problems=(403, 404, 409, 422))
def transfer_task(task_id: str, body: dict):
    """转交: hand a task to a member of a department that owns it, with a reason kept in its
    history. The task's assignee, the head of its department (or a manager above it) or an
    admin may; 422 if the person is not in an owning department."""
    return _task_action(tasks.transfer, task_id, body["username"], body["reason"])


@bp.get("/tasks/<task_id>/history")
@operation({200: TaskHandover(many=True)}, problems=(404,))
def task_history(task_id: str):
    """Who handed the task to whom (assignments and transfers) and the org imports that
    moved it to another department (rerouted), oldest first."""
    with store().reading() as uow:
        return [{"id": entry.id, "at": iso(entry.at), "actor": entry.actor,
                 "action": entry.action, "from_username": entry.from_username,
                 "to_username": entry.to_username, "reason": entry.reason}
                for entry in tasks.history(uow, actor(), task_id)]


@bp.post("/tasks/<task_id>/complete")
@operation({200: Completion}, body=CompleteRequest, headers=CompleteHeaders,
           reply_headers={200: ReplayHeaders}, problems=(403, 404, 409, 413, 422, 503),
           multipart="data")
def complete_task(task_id: str, body: dict, headers: dict):
    """Complete a duty with its form data (once per Idempotency-Key, where one is sent).

    With files: a multipart/form-data request whose part `data` is the form data as JSON
    text and whose other parts are the files, each named after its `file` field (repeat
    the name for several). Each file is at most DUTYFLOW_MAX_UPLOAD_MB and of a type the
    field allows, as its content shows; else 422 naming the field."""
    files = uploads()

    def complete(uow) -> dict:
        done = attachments.complete_with_files(uow, actor(), task_id, body["data"], files,
                                               staging, limits())
        return {"id": done.instance_id, "status": done.status, "error": done.error,
                "tasks": [task_view(task) for task in done.ready]}

    with file_store().staging() as staging:  # published after the commit, else discarded
        key = headers.get("idempotency_key")
        if key is None:
            with store().writing() as uow:
                return complete(uow)
        answer = idempotency.once(store(), actor().username, key,
                                  idempotency.fingerprint(request.method, request.path,
                                                          _request_body(body, files)), complete)
    return answer.body, answer.status, {"replayed": "true"} if answer.replayed else {}


def _request_body(body: dict, files: list) -> object:
    """What makes two completions the same request: the JSON body, and with files also
    each file's field and content digest."""
    if not files:
        return request_json() if request_json() is not None else body
    digests = []
    for upload in files:
        digest = hashlib.sha256()
        while chunk := upload.stream.read(1024 * 1024):
            digest.update(chunk)
        upload.stream.seek(0)
        digests.append([upload.field, digest.hexdigest()])
    return {"body": body, "files": digests}


@bp.get("/tasks/<task_id>/files/<sha256>")
@operation({200: MEDIA_TYPES}, problems=(404,))
def download_file(task_id: str, sha256: str):
    """A file attached to the task's completion, by its SHA-256; 404 unless the caller may
    see the task."""
    return _send(task_id, sha256, thumbnail=False)


@bp.get("/tasks/<task_id>/files/<sha256>/thumbnail")
@operation({200: ("image/jpeg",)}, problems=(404,))
def file_thumbnail(task_id: str, sha256: str):
    """A JPEG thumbnail of an attached image (at most 320 px); 404 for other files, and
    unless the caller may see the task."""
    return _send(task_id, sha256, thumbnail=True)


def _send(task_id: str, sha256: str, thumbnail: bool):
    with store().reading() as uow:
        found = attachments.open_attachment(uow, file_store(), actor(), task_id, sha256,
                                            thumbnail)
    return send_attachment(found)


@bp.get("/tasks/<task_id>/comments")
@operation({200: Comment(many=True)}, problems=(404,))
def task_comments(task_id: str):
    """Progress notes on a task."""
    with store().reading() as uow:
        return [comment_view(comment) for comment in tasks.comments(uow, actor(), task_id)]


@bp.post("/tasks/<task_id>/comments")
@operation({201: Comment}, body=CommentRequest, problems=(404, 422))
def add_task_comment(task_id: str, body: dict):
    """Add a progress note to a task."""
    with store().writing() as uow:
        return comment_view(tasks.add_comment(uow, actor(), task_id, body["text"])), 201


def comment_view(comment) -> dict:
    return {"id": comment.id, "author": comment.author, "text": comment.text,
            "created_at": iso(comment.created_at)}
