"""The inbox: my tasks and my department's unclaimed ones, with filters and counts."""
from __future__ import annotations

from flask import flash, redirect, render_template, request
from flask_babel import gettext as _

from services.errors import ServiceError
from services.persistence.models import utcnow
from services.persistence.statuses import TaskStatus
from services.workflow import tasks

from . import bp, flash_refusal, page_actor, page_labels, signed_in, store
from .redirects import safe_next


@bp.get("/inbox")
@signed_in
def inbox():
    actor = page_actor()
    process_key = request.args.get("process") or None
    overdue_only = request.args.get("due") == "overdue"
    now = utcnow()
    query = tasks.TaskQuery(scope="mine", status=TaskStatus.READY, process_key=process_key,
                            overdue_at=now if overdue_only else None, sort="due_at", limit=200)
    with store().reading() as uow:
        rows = tasks.list_tasks(uow, actor, query).tasks
        processes = tasks.inbox_process_keys(uow, actor)
        counts = tasks.inbox_counts(uow, actor, now)
        labels = page_labels(uow, {task.process_instance_id for task in rows})
    return render_template("inbox.html", tasks=rows, now=now, processes=processes,
                           process_key=process_key, overdue_only=overdue_only, counts=counts,
                           labels=labels)


@bp.post("/tasks/<task_id>/claim")
@signed_in
def claim(task_id: str):
    return _act(tasks.claim, task_id, _("Task claimed."))


@bp.post("/tasks/<task_id>/unclaim")
@signed_in
def unclaim(task_id: str):
    return _act(tasks.unclaim, task_id, _("Task released."))


def _act(action, task_id: str, done: str):
    try:
        with store().writing() as uow:
            action(uow, page_actor(), task_id)
        flash(done)
    except ServiceError as err:
        flash_refusal(err)
    return redirect(safe_next(request.form.get("next")))
