"""Inboxes and the work on a task: read, claim, assign, complete, comment."""
from __future__ import annotations

from flask import jsonify, request, url_for

from services.persistence import idempotency
from services.persistence.models import ProcessInstance
from services.workflow import instances, tasks
from services.workflow.definitions import model_of
from services.workflow.views import iso, task_view

from . import actor, bp, load, request_json, store
from .schemas import AssignRequest, CommentRequest, CompleteRequest, TaskListQuery


@bp.get("/tasks")
def list_tasks():
    """Tasks in the caller's scope (mine, department, or all for admins).
    ---
    get:
      parameters:
        - {name: scope, in: query, schema: {type: string, enum: [mine, department, all]}}
        - {name: status, in: query, schema: {type: string, enum: [ready, completed]}}
        - {name: process_key, in: query, schema: {type: string}}
        - {name: due_before, in: query, schema: {type: string, format: date-time}}
        - {name: due_after, in: query, schema: {type: string, format: date-time}}
        - {name: assignee, in: query, schema: {type: string}}
        - {name: unassigned, in: query, schema: {type: boolean}}
        - {name: sort, in: query, schema: {type: string, enum: [due_at, created_at]}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 200}}
        - {name: page, in: query, schema: {type: integer, minimum: 1}}
        - {name: cursor, in: query, schema: {type: string}, description: "from X-Next-Cursor"}
      responses:
        200:
          description: One page; X-Next-Cursor and a Link rel=next header point to the next.
          headers:
            X-Next-Cursor: {schema: {type: string}}
          content: {application/json: {schema: {type: array, items: Task}}}
        403, 422: problem
    """
    query = load(TaskListQuery, request.args.to_dict())
    query["offset"] = (query.pop("page") - 1) * query["limit"]
    with store().reading() as uow:
        page = tasks.list_tasks(uow, actor(), tasks.TaskQuery(**query))
        response = jsonify([task_view(row) for row in page.tasks])
    if page.next_cursor:
        args = {**request.args.to_dict(), "cursor": page.next_cursor}
        args.pop("page", None)
        response.headers["X-Next-Cursor"] = page.next_cursor
        response.headers["Link"] = f'<{url_for("api.list_tasks", **args)}>; rel="next"'
    return response


@bp.get("/tasks/<task_id>")
def get_task(task_id: str):
    """A task with its form.
    ---
    get:
      parameters: [{name: task_id, in: path, required: true, schema: {type: string}}]
      responses:
        200: {content: {application/json: {schema: TaskDetail}}}
        404: problem
    """
    with store().reading() as uow:
        task = tasks.get_task(uow, actor(), task_id)
        row = uow.session.get(ProcessInstance, task.process_instance_id)
        duty = model_of(uow, row.definition).duties.get(task.element_id)
        view = task_view(task)
        view["form"] = duty.form.as_dict() if duty else {"fields": []}
        return jsonify(view)


def _task_action(action, task_id: str, *args):
    with store().writing() as uow:
        task = action(uow, actor(), task_id, *args)
        return jsonify(task_view(task))


@bp.post("/tasks/<task_id>/claim")
def claim_task(task_id: str):
    """Take a task; 409 if someone else holds it.
    ---
    post:
      parameters: [{name: task_id, in: path, required: true, schema: {type: string}}]
      responses:
        200: {content: {application/json: {schema: Task}}}
        403, 409: problem
    """
    return _task_action(tasks.claim, task_id)


@bp.post("/tasks/<task_id>/unclaim")
def unclaim_task(task_id: str):
    """Release a held task.
    ---
    post:
      parameters: [{name: task_id, in: path, required: true, schema: {type: string}}]
      responses:
        200: {content: {application/json: {schema: Task}}}
        403, 409: problem
    """
    return _task_action(tasks.unclaim, task_id)


@bp.post("/tasks/<task_id>/assign")
def assign_task(task_id: str):
    """Assign a task to a member of its department (head, manager above, or admin).
    ---
    post:
      parameters: [{name: task_id, in: path, required: true, schema: {type: string}}]
      requestBody: {content: {application/json: {schema: AssignRequest}}}
      responses:
        200: {content: {application/json: {schema: Task}}}
        403, 409, 422: problem
    """
    body = load(AssignRequest)
    return _task_action(tasks.assign, task_id, body["username"])


@bp.post("/tasks/<task_id>/complete")
def complete_task(task_id: str):
    """Complete a duty with its form data.
    ---
    post:
      parameters:
        - {name: task_id, in: path, required: true, schema: {type: string}}
        - name: Idempotency-Key
          in: header
          schema: {type: string, minLength: 1, maxLength: 200, pattern: "^[ -~]+$"}
          description: >-
            Any unique string (a UUID). A retry with the same key and the same request gets
            the first success again, with Idempotent-Replayed: true, instead of completing
            twice; the same key on another request is a 422. Kept for 24 hours.
      requestBody: {content: {application/json: {schema: CompleteRequest}}}
      responses:
        200:
          content: {application/json: {schema: Instance}}
          headers:
            Idempotent-Replayed:
              schema: {type: string, enum: ["true"]}
              description: this is the stored answer to an earlier request with the same key
        403, 404, 409, 422, 503: problem
    """
    body = load(CompleteRequest)

    def complete(uow) -> dict:
        done = instances.complete_task(uow, actor(), task_id, body["data"])
        return {"id": done.instance_id, "status": done.status, "error": done.error,
                "tasks": [task_view(task) for task in done.ready]}

    key = request.headers.get(idempotency.HEADER)
    if key is None:
        with store().writing() as uow:
            return jsonify(complete(uow))
    answer = idempotency.once(store(), actor().username, key,
                              idempotency.fingerprint(request.method, request.path,
                                                      request_json()), complete)
    response = jsonify(answer.body)
    response.status_code = answer.status
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.route("/tasks/<task_id>/comments", methods=["GET", "POST"])
def task_comments(task_id: str):
    """Progress notes on a task.
    ---
    get:
      parameters: [{name: task_id, in: path, required: true, schema: {type: string}}]
      responses:
        200: {content: {application/json: {schema: {type: array, items: Comment}}}}
        404: problem
    post:
      parameters: [{name: task_id, in: path, required: true, schema: {type: string}}]
      requestBody: {content: {application/json: {schema: CommentRequest}}}
      responses:
        201: {content: {application/json: {schema: Comment}}}
        404, 422: problem
    """
    def view(comment):
        return {"id": comment.id, "author": comment.author, "text": comment.text,
                "created_at": iso(comment.created_at)}

    if request.method == "POST":
        body = load(CommentRequest)
        with store().writing() as uow:
            return jsonify(view(tasks.add_comment(uow, actor(), task_id, body["text"]))), 201
    with store().reading() as uow:
        return jsonify([view(comment) for comment in tasks.comments(uow, actor(), task_id)])
