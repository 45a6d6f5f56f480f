"""My performance: an employee's own KPI for a month, and their payslips once final."""
from __future__ import annotations

from flask import render_template, request

from services.errors import InvalidInput
from services.pay import my_kpi
from services.workflow import attachments, tasks

from . import bp, page_actor, page_labels, signed_in, store
from .dashboard_pages import current_period_text, timezone
from .hr_pages import dated, flag_labels, metric_labels


@bp.get("/me/kpi")
@signed_in
def my_performance():
    actor = page_actor()
    period, error = request.args.get("period") or current_period_text(), None
    try:
        figures = my_kpi.my_kpi(store(), actor, period, timezone())
    except InvalidInput as err:
        error = str(err)
        figures = my_kpi.my_kpi(store(), actor, current_period_text(), timezone())
    with store().reading() as uow:
        viewable = attachments.visible_tasks(uow, actor, [item["task_id"]
                                                          for item in figures["events"]])
        labels = page_labels(uow, {item["process_instance_id"] for item
                                   in (*figures["events"], *figures["open_tasks"])})
        # the open tasks as the API lists them carry no element id: their names come
        # from the rows, as the inbox's do
        open_names = {task["id"]: labels.task(tasks.get_task(uow, actor, task["id"]))
                      for task in figures["open_tasks"]}
    return render_template("my_kpi.html", kpi=figures, error=error, viewable=viewable,
                           labels=labels, open_names=open_names,
                           events=[dated(item) for item in figures["events"]],
                           projected=(figures["if_open_work_completed"] or {}).get("indicators"),
                           flags=flag_labels(), metric_labels=metric_labels()), \
        422 if error else 200
