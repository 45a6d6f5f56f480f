"""Who may call what: every /api/v1 endpoint x every kind of caller, one expected status each.

The expectations are written out by hand from the access rules (README "Who may do
what", the payroll/corrections/reports rows of its endpoint table, and services/identity/access.py's
docstring), never computed by the code under test. The callers, in the demo org:

    anon      no Authorization header
    staff     li.qa        inspector in qa
    head      wang.qa      head of qa (roles manager, staff)
    manager   sun.prod     head of production, qa's parent (roles manager, staff)
    designer  chen.design  company (roles designer, staff)
    hr        zhao.hr      hr (roles hr, staff)
    admin     admin        company (role admin)

Order of answers: 401 without a valid token; 404 for a task, instance or event the caller
may not see (its existence is not revealed); 403 for what they may see but not do (admins
included: they see every task but do only their own department's duties); 409 for a
state conflict; else success.

Rows that change state get a fresh resource per cell ({new_qa_task}, {held_qa_task},
{draft_run}, ...), so every cell starts from the same situation.
"""
from __future__ import annotations

import hashlib
import io
import itertools
import string
import tempfile
import time

import pytest
from PIL import Image
from sqlalchemy import select

from services.identity.access import actor_for, actor_named
from services.notify.delivery import DeliveryPolicy
from services.notify.outbox import notify
from services.org import org_file, org_sheets
from services.persistence.models import Delivery, Employee, utcnow
from services.persistence.statuses import DeliveryStatus, NotificationKind
from services.settings import Settings
from services.workflow import attachments, instances, lifecycle, tasks
from tests.conftest import read_bpmn
from tests.engine.bpmn_builder import flow, process, user_task
from tests.notify.support import deliver
from tests.services.helpers import (
    DELIVERY,
    PASS,
    complete,
    deploy,
    import_demo_org,
    ready_task,
    start,
)
from web.app import create_app

CALLERS = ("anon", "li.qa", "wang.qa", "sun.prod", "chen.design", "zhao.hr", "admin")
SCHEME = {"indicators": [{"metric": "on_time_rate", "weight": 100, "target": 1}]}
PERIOD = "2026-01"
BPMN = object()  # body marker: a multipart upload of a diagram no one has deployed yet
ORG = object()  # body marker: a multipart upload of the org as it stands (an import changes nothing)
NOTE = {"text": "sample arrives tomorrow"}
CORRECTION = {"data": {"notes": "re-weighed"}, "reason": "the scale was off"}
REASON = {"reason": "supplier cancelled the order"}
MOVE = {"from": "inspect_goods", "to": "warehouse_intake", "reason": "certified supplier"}
HANDOVER = {"username": "li.qa", "reason": "he.qa is at the supplier's"}
ABSENCE = {"from": "2026-01-05T00:00:00+08:00", "to": "2026-01-10T00:00:00+08:00",
           "substitute": "he.qa"}

MATRIX = [
    # method, path, body                                   anon staff head  mgr  dsgn   hr admin
    ("POST", "/api/v1/auth/token", {"username": "he.qa", "password": "demo"},
                                                            (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/openapi.json", None,                  (200, 200, 200, 200, 200, 200, 200)),
    # processes: designers and admins deploy; everyone signed in reads; a process is started
    # by admins and those it names: the start event's lane (inbound_materials: procurement),
    # or camunda:candidateStarterGroups/-Users (qa_sampling: QA and chen.design)
    ("POST", "/api/v1/process-definitions", BPMN,          (401, 403, 403, 403, 201, 403, 201)),
    ("GET", "/api/v1/process-definitions", None,           (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/process-definitions/inbound_materials/versions/1/bpmn", None,
                                                            (401, 200, 200, 200, 200, 200, 200)),
    ("POST", "/api/v1/process-instances", {"process_key": "inbound_materials"},
                                                            (401, 403, 403, 403, 403, 403, 201)),
    ("POST", "/api/v1/process-instances", {"process_key": "qa_sampling"},
                                                            (401, 201, 201, 403, 201, 403, 201)),
    ("GET", "/api/v1/process-instances", None,             (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/process-instances/{qa_instance}", None,
                                                            (401, 200, 200, 200, 404, 404, 200)),
    ("GET", "/api/v1/process-instances/{proc_instance}", None,
                                                            (401, 404, 404, 404, 404, 404, 200)),
    # migrations of running instances: designers and admins (a dry run plans, changes nothing)
    ("POST", "/api/v1/migrations", {"process_key": "qa_sampling", "from_version": 1,
                                    "to_version": 2, "instance_ids": ["{planned_sampling}"]},
                                                            (401, 403, 403, 403, 200, 403, 200)),
    ("GET", "/api/v1/migrations/{migration}", None,         (401, 403, 403, 403, 200, 403, 200)),
    ("POST", "/api/v1/migrations/{migration}/resume", None, (401, 403, 403, 403, 409, 403, 409)),
    # lifecycle: the heads of the departments owning its duties (and managers above them)
    # and admins cancel, suspend and resume, also instances they do not otherwise see;
    # its starter may withdraw it until another department has completed a step
    ("POST", "/api/v1/process-instances/{new_qa_instance}/cancel", REASON,
                                                            (401, 403, 200, 200, 404, 404, 200)),
    ("POST", "/api/v1/process-instances/{new_proc_instance}/cancel", REASON,
                                                            (401, 404, 200, 200, 404, 404, 200)),
    ("POST", "/api/v1/process-instances/{own_sampling}/cancel", REASON,
                                                            (401, 200, 200, 200, 404, 404, 200)),
    ("POST", "/api/v1/process-instances/{handed_off_sampling}/cancel", REASON,
                                                            (401, 403, 200, 200, 404, 404, 200)),
    ("POST", "/api/v1/process-instances/{finished_instance}/cancel", REASON,
                                                            (401, 403, 409, 409, 404, 404, 409)),
    ("POST", "/api/v1/process-instances/{new_qa_instance}/suspend", REASON,
                                                            (401, 403, 200, 200, 404, 404, 200)),
    ("POST", "/api/v1/process-instances/{own_sampling}/suspend", REASON,
                                                            (401, 403, 200, 200, 404, 404, 200)),
    ("POST", "/api/v1/process-instances/{suspended_qa_instance}/resume", REASON,
                                                            (401, 403, 200, 200, 404, 404, 200)),
    ("POST", "/api/v1/process-instances/{new_qa_instance}/resume", REASON,
                                                            (401, 403, 409, 409, 404, 404, 409)),
    # incidents and repairs: admins and designers (even of instances they do not see);
    # retry and data fixes only for an instance in error
    ("GET", "/api/v1/incidents", None,                     (401, 403, 403, 403, 200, 403, 200)),
    ("POST", "/api/v1/process-instances/{errored_instance}/retry", REASON,
                                                            (401, 404, 404, 404, 200, 404, 200)),
    ("PATCH", "/api/v1/process-instances/{errored_instance}/data", {**REASON, "set": {"x": 1}},
                                                            (401, 404, 404, 404, 200, 404, 200)),
    ("POST", "/api/v1/process-instances/{new_qa_instance}/retry", REASON,
                                                            (401, 403, 403, 403, 409, 404, 409)),
    ("PATCH", "/api/v1/process-instances/{new_qa_instance}/data", {**REASON, "set": {"x": 1}},
                                                            (401, 403, 403, 403, 409, 404, 409)),
    # moving a token: admins only
    ("POST", "/api/v1/process-instances/{new_qa_instance}/move", MOVE,
                                                            (401, 403, 403, 403, 404, 404, 200)),
    ("POST", "/api/v1/process-instances/{finished_instance}/move", MOVE,
                                                            (401, 403, 403, 403, 404, 404, 409)),
    # messages and signals: admins (the accounts external systems use)
    ("POST", "/api/v1/messages", {"name": "nobody waits for this"},
                                                            (401, 403, 403, 403, 403, 403, 404)),
    ("POST", "/api/v1/signals", {"name": "fire drill"},    (401, 403, 403, 403, 403, 403, 200)),
    # inboxes: scope=all is for admins
    ("GET", "/api/v1/tasks", None,                         (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/tasks?scope=department", None,        (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/tasks?scope=all", None,               (401, 403, 403, 403, 403, 403, 200)),
    # a task: seen by its department, those who oversee it, and admins; 404 for the rest
    ("GET", "/api/v1/tasks/{qa_task}", None,               (401, 200, 200, 200, 404, 404, 200)),
    ("GET", "/api/v1/tasks/{proc_task}", None,             (401, 404, 404, 404, 404, 404, 200)),
    ("GET", "/api/v1/tasks/{qa_task}/comments", None,      (401, 200, 200, 200, 404, 404, 200)),
    ("POST", "/api/v1/tasks/{qa_task}/comments", NOTE,     (401, 201, 201, 201, 404, 404, 201)),
    ("GET", "/api/v1/tasks/{proc_task}/comments", None,    (401, 404, 404, 404, 404, 404, 200)),
    # claim and complete: members of the owning department only
    ("POST", "/api/v1/tasks/{new_qa_task}/claim", None,    (401, 200, 200, 403, 404, 404, 403)),
    ("POST", "/api/v1/tasks/{new_proc_task}/claim", None,  (401, 404, 404, 404, 404, 404, 403)),
    ("POST", "/api/v1/tasks/{held_qa_task}/claim", None,   (401, 409, 409, 403, 404, 404, 403)),
    ("POST", "/api/v1/tasks/{new_qa_task}/complete", {"data": PASS},
                                                            (401, 200, 200, 403, 404, 404, 403)),
    ("POST", "/api/v1/tasks/{new_proc_task}/complete", {"data": DELIVERY},
                                                            (401, 404, 404, 404, 404, 404, 403)),
    ("POST", "/api/v1/tasks/{held_qa_task}/complete", {"data": PASS},
                                                            (401, 409, 409, 403, 404, 404, 403)),
    # assign and release someone else's hold: the head, a manager above, or an admin
    ("POST", "/api/v1/tasks/{new_qa_task}/assign", {"username": "he.qa"},
                                                            (401, 403, 200, 200, 404, 404, 200)),
    ("POST", "/api/v1/tasks/{new_proc_task}/assign", {"username": "lin.proc"},
                                                            (401, 404, 404, 404, 404, 404, 200)),
    ("POST", "/api/v1/tasks/{held_qa_task}/unclaim", None, (401, 403, 200, 200, 404, 404, 200)),
    # transfer: the task's assignee (here he.qa), the head, a manager above, or an admin
    ("POST", "/api/v1/tasks/{held_qa_task}/transfer", HANDOVER,
                                                            (401, 403, 200, 200, 404, 404, 200)),
    ("POST", "/api/v1/tasks/{new_proc_task}/transfer", {"username": "lin.proc", "reason": "r"},
                                                            (401, 404, 404, 404, 404, 404, 200)),
    ("GET", "/api/v1/tasks/{qa_task}/history", None,       (401, 200, 200, 200, 404, 404, 200)),
    # everyone's own KPI and payslips
    ("GET", "/api/v1/me/kpi?period=2026-01", None,         (401, 200, 200, 200, 200, 200, 200)),
    # attached files: whoever sees the task (its completer li.qa, QA's heads, admins)
    ("GET", "/api/v1/tasks/{photo_task}/files/{photo}", None,
                                                            (401, 200, 200, 200, 404, 404, 200)),
    ("GET", "/api/v1/tasks/{photo_task}/files/{photo}/thumbnail", None,
                                                            (401, 200, 200, 200, 404, 404, 200)),
    # an absence: the person (li.qa), their head, a manager above, HR or an admin
    ("PUT", "/api/v1/employees/li.qa/absence", ABSENCE,    (401, 200, 200, 200, 403, 200, 200)),
    ("DELETE", "/api/v1/employees/{absent_qa_staff}/absence", None,
                                                            (401, 200, 200, 200, 403, 200, 200)),
    ("PUT", "/api/v1/employees/zhang.proc/absence", {**ABSENCE, "substitute": "lin.proc"},
                                                            (401, 403, 403, 403, 403, 200, 200)),
    # organisation
    ("GET", "/api/v1/departments", None,                   (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/employees", None,                     (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/duty-matrix", None,                   (401, 403, 200, 200, 200, 200, 200)),
    # the org file: HR and admins
    ("POST", "/api/v1/org/preview", ORG,                   (401, 403, 403, 403, 403, 200, 200)),
    ("POST", "/api/v1/org/import", ORG,                    (401, 403, 403, 403, 403, 200, 200)),
    ("GET", "/api/v1/org/export?format=csv", None,         (401, 403, 403, 403, 403, 200, 200)),
    ("GET", "/api/v1/org/template", None,                  (401, 403, 403, 403, 403, 200, 200)),
    # payroll: HR and admins; a payslip also for its employee
    ("GET", "/api/v1/kpi-schemes/qa", None,                (401, 403, 403, 403, 403, 200, 200)),
    ("PUT", "/api/v1/kpi-schemes/qa", SCHEME,              (401, 403, 403, 403, 403, 200, 200)),
    ("GET", f"/api/v1/kpi?period={PERIOD}", None,          (401, 403, 403, 403, 403, 200, 200)),
    ("POST", "/api/v1/payroll-runs", {"period": "{new_period}"},
                                                            (401, 403, 403, 403, 403, 201, 201)),
    ("GET", "/api/v1/payroll-runs/{run}", None,            (401, 403, 403, 403, 403, 200, 200)),
    ("POST", "/api/v1/payroll-runs/{run}/recalculate", None,
                                                            (401, 403, 403, 403, 403, 200, 200)),
    # four eyes: the run was prepared by admin, so admin may neither approve nor reject it
    ("POST", "/api/v1/payroll-runs/{draft_run}/approve", None,
                                                            (401, 403, 403, 403, 403, 200, 403)),
    ("POST", "/api/v1/payroll-runs/{draft_run}/reject", {"reason": "figures look off"},
                                                            (401, 403, 403, 403, 403, 200, 403)),
    ("POST", "/api/v1/payroll-runs/{approved_run}/finalize", None,
                                                            (401, 403, 403, 403, 403, 200, 200)),
    ("GET", "/api/v1/payroll-runs/{run}/export?format=csv", None,
                                                            (401, 403, 403, 403, 403, 200, 200)),
    ("POST", "/api/v1/payroll-runs/{run}/exports", {"format": "csv"},
                                                            (401, 403, 403, 403, 403, 202, 202)),
    ("GET", "/api/v1/payroll-exports/{payroll_export}", None,
                                                            (401, 403, 403, 403, 403, 200, 200)),
    ("GET", "/api/v1/payroll-exports/{payroll_export}/file", None,
                                                            (401, 403, 403, 403, 403, 200, 200)),
    ("GET", "/api/v1/payroll-runs/{run}/payslips/li.qa", None,
                                                            (401, 200, 403, 403, 403, 200, 200)),
    ("GET", "/api/v1/payroll-runs/{final_run}/payslips/li.qa.pdf", None,
                                                            (401, 200, 403, 403, 403, 200, 200)),
    ("GET", "/api/v1/payroll-runs/{final_run}/payslips.zip", None,
                                                            (401, 403, 403, 403, 403, 200, 200)),
    ("POST", "/api/v1/kpi-schemes/qa/what-if", {"scheme": SCHEME, "periods": [PERIOD]},
                                                            (401, 403, 403, 403, 403, 200, 200)),
    ("GET", "/api/v1/audit?entity=salary", None,            (401, 403, 403, 403, 403, 200, 200)),
    # external tasks: only the integration role (none of these callers; its own answers are
    # in tests/web/test_external_tasks.py), and admins may set retries
    ("POST", "/api/v1/external-tasks/fetch-and-lock",
     {"workerId": "w", "maxTasks": 1, "topics": [{"topicName": "t", "lockDuration": 1000}]},
                                                            (401, 403, 403, 403, 403, 403, 403)),
    ("POST", "/api/v1/external-tasks/no-such-task/complete", {"workerId": "w"},
                                                            (401, 403, 403, 403, 403, 403, 403)),
    ("POST", "/api/v1/external-tasks/no-such-task/failure", {"workerId": "w", "retries": 0},
                                                            (401, 403, 403, 403, 403, 403, 403)),
    ("POST", "/api/v1/external-tasks/no-such-task/extend-lock",
     {"workerId": "w", "newDuration": 1000},                (401, 403, 403, 403, 403, 403, 403)),
    ("PUT", "/api/v1/external-tasks/no-such-task/retries", {"retries": 1},
                                                            (401, 403, 403, 403, 403, 403, 404)),
    # corrections: the head of the duty's department, a manager above it, an admin
    ("POST", "/api/v1/events/{qa_event}/corrections", CORRECTION,
                                                            (401, 403, 201, 201, 403, 403, 201)),
    ("POST", "/api/v1/events/{proc_event}/corrections", {**CORRECTION, "data": {}},
                                                            (401, 403, 403, 403, 403, 403, 201)),
    # reports: HR, admins; managers for the departments they oversee; one's own for everyone
    ("GET", f"/api/v1/reports/department-ranking?period={PERIOD}", None,
                                                            (401, 403, 200, 200, 403, 200, 200)),
    ("GET", f"/api/v1/reports/employees/li.qa?period={PERIOD}", None,
                                                            (401, 200, 200, 200, 403, 200, 200)),
    ("GET", f"/api/v1/reports/employees/zhang.proc?period={PERIOD}", None,
                                                            (401, 403, 403, 403, 403, 200, 200)),
    ("GET", "/api/v1/reports/trend?from=2026-01-01&to=2026-03-31", None,
                                                            (401, 403, 200, 200, 403, 200, 200)),
    # notifications: one's own for everyone; deliveries and resending for admins
    ("GET", "/api/v1/notifications", None,                 (401, 200, 200, 200, 200, 200, 200)),
    ("POST", "/api/v1/notifications/read", {"ids": [1]},   (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/me/notification-settings", None,      (401, 200, 200, 200, 200, 200, 200)),
    ("PUT", "/api/v1/me/notification-settings", {"email": False},
                                                            (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/notifications/deliveries?status=failed", None,
                                                            (401, 403, 403, 403, 403, 403, 200)),
    ("POST", "/api/v1/notifications/deliveries/{failed_delivery}/resend", None,
                                                            (401, 403, 403, 403, 403, 403, 200)),
]

# Placeholders made anew for every cell (World methods); the others are shared.
FRESH = {"new_qa_task", "new_proc_task", "held_qa_task", "new_period", "draft_run", "approved_run",
         "new_qa_instance", "new_proc_instance", "own_sampling", "handed_off_sampling",
         "finished_instance", "suspended_qa_instance", "errored_instance",
         "absent_qa_staff",
         "failed_delivery"}
# Salaries in GET /employees: HR and admins only.
SEES_SALARIES = {"li.qa": False, "wang.qa": False, "sun.prod": False, "chen.design": False,
                 "zhao.hr": True, "admin": True}


class World:
    """The demo org, two diagrams, running work and a payroll run; makes fresh resources."""

    def __init__(self, store):
        self.store = store
        import_demo_org(store)
        for name in ("inbound_materials.bpmn", "contract_approval.bpmn"):
            deploy(store, name)
        deploy(store, "failing.bpmn", process(
            '<bpmn:startEvent id="start"/><bpmn:scriptTask id="run" scriptFormat="python">'
            '<bpmn:script>y = x + 1</bpmn:script></bpmn:scriptTask>' + user_task("after")
            + '<bpmn:endEvent id="end"/>' + flow("start", "run") + flow("run", "after")
            + flow("after", "end"), {"QA": ["start", "run", "after", "end"]}, "failing"))
        deploy(store, "qa_sampling.bpmn", read_bpmn("inbound_materials.bpmn").replace(
            b'<bpmn:process id="inbound_materials"',
            b'<bpmn:process id="qa_sampling" camunda:candidateStarterGroups="QA" '
            b'camunda:candidateStarterUsers="chen.design"'))
        # Two instances on version 1 (one to plan for, one to migrate), then a version 2:
        old_sampling, planned_sampling = start(self.store, "qa_sampling"), \
            start(self.store, "qa_sampling")
        deploy(store, "qa_sampling.bpmn", read_bpmn("inbound_materials.bpmn").replace(
            b'<bpmn:process id="inbound_materials"',
            b'<bpmn:process id="qa_sampling" camunda:candidateStarterGroups="QA" '
            b'camunda:candidateStarterUsers="chen.design"').replace(
            b'name="Warehouse intake"', b'name="Warehouse intake (v2)"'))
        self.app = create_app(Settings(store.database_url, files_dir=tempfile.mkdtemp()),
                              store=store)
        self.client = self.app.test_client()
        self.tokens = {}
        self.periods = (f"{year}-{month:02d}" for year, month
                        in itertools.product(range(2020, 2026), range(1, 13)))
        self.deploys = itertools.count(1)
        proc_instance, qa_instance = start(self.store), start(self.store)
        complete(store, qa_instance, "register_delivery", "zhang.proc", DELIVERY)
        done = start(self.store)
        complete(store, done, "register_delivery", "zhang.proc", DELIVERY)
        complete(store, done, "inspect_goods", "li.qa", PASS)
        events = self.call("admin", "GET", f"/api/v1/process-instances/{done}").json["history"]
        assert self.call("admin", "PUT", "/api/v1/kpi-schemes/qa", SCHEME).status_code == 200
        self.shared = {
            "proc_instance": proc_instance, "qa_instance": qa_instance,
            "proc_task": ready_task(store, proc_instance, "register_delivery").id,
            "qa_task": ready_task(store, qa_instance, "inspect_goods").id,
            "proc_event": events[0]["id"], "qa_event": events[1]["id"], "run": self.draft_run(),
            "final_run": self.final_run(), "planned_sampling": planned_sampling,
            "migration": self.finished_migration(old_sampling),
            **self.photographed(),
        }
        self.shared["payroll_export"] = self.made_export(self.shared["run"])

    def made_export(self, run_id: int) -> int:
        """A CSV export of the run asked for by admin, made by its job (no broker: a
        thread of the server)."""
        answer = self.call("admin", "POST", f"/api/v1/payroll-runs/{run_id}/exports",
                           {"format": "csv"})
        assert answer.status_code == 202, answer.json
        for _ in range(200):
            made = self.call("admin", "GET", answer.headers["Location"]).json
            if made["status"] == "ready":
                return answer.json["id"]
            time.sleep(0.05)
        raise AssertionError(f"export never made: {made}")

    def finished_migration(self, instance_id: int) -> int:
        """A migration of one qa_sampling instance from version 1 to 2, run to its end."""
        answer = self.call("admin", "POST", "/api/v1/migrations", {
            "process_key": "qa_sampling", "from_version": 1, "to_version": 2,
            "instance_ids": [instance_id], "dry_run": False, "reason": "v2 renames a step"})
        assert answer.status_code == 202, answer.json
        for _ in range(200):
            progress = self.call("admin", "GET", f"/api/v1/migrations/{answer.json['id']}").json
            if progress["status"] == "completed":
                return answer.json["id"]
            time.sleep(0.05)
        raise AssertionError(f"migration never completed: {progress}")

    def photographed(self) -> dict[str, str]:
        """An inspection li.qa completed with a photo: the task and the photo's digest."""
        task_id = self.new_qa_task()
        image = io.BytesIO()
        Image.new("RGB", (40, 30), "red").save(image, "PNG")
        files = self.app.extensions["dutyflow_files"]
        with files.staging() as staging, self.store.writing() as uow:
            attachments.complete_with_files(
                uow, actor_named(uow, "li.qa"), task_id, PASS,
                [attachments.Upload("photos", "dock.png", io.BytesIO(image.getvalue()))],
                staging, attachments.Limits(1 << 20, ("image/png",)))
        return {"photo_task": task_id, "photo": hashlib.sha256(image.getvalue()).hexdigest()}

    def headers(self, caller: str) -> dict[str, str]:
        if caller == "anon":
            return {}
        if caller not in self.tokens:
            response = self.client.post("/api/v1/auth/token",
                                        json={"username": caller, "password": "demo"})
            self.tokens[caller] = response.json["token"]
        return {"Authorization": f"Bearer {self.tokens[caller]}"}

    def call(self, caller: str, method: str, path: str, body=None):
        if body is BPMN:
            number = next(self.deploys)
            source = read_bpmn("customer_complaint.bpmn").replace(
                b'name="Customer complaint handling"', f'name="Complaints {number}"'.encode())
            return self.client.open(path, method=method, headers=self.headers(caller),
                                    data={"file": (io.BytesIO(source), "complaints.bpmn")},
                                    content_type="multipart/form-data")
        if body is ORG:
            with self.store.reading() as uow:
                org = org_sheets.render(org_file.export_document(uow), "xlsx")
            return self.client.open(path, method=method, headers=self.headers(caller),
                                    data={"file": (io.BytesIO(org), "org.xlsx")},
                                    content_type="multipart/form-data")
        return self.client.open(path, method=method, headers=self.headers(caller), json=body)

    # Fresh resources, one per cell of a row that changes state.
    def new_qa_task(self) -> str:
        instance = start(self.store)
        complete(self.store, instance, "register_delivery", "zhang.proc", DELIVERY)
        return ready_task(self.store, instance, "inspect_goods").id

    def new_proc_task(self) -> str:
        return ready_task(self.store, start(self.store), "register_delivery").id

    def held_qa_task(self) -> str:
        task_id = self.new_qa_task()
        with self.store.writing() as uow:
            he = uow.session.scalars(select(Employee).where(Employee.username == "he.qa")).one()
            tasks.claim(uow, actor_for(uow, he), task_id)
        return task_id

    def new_qa_instance(self) -> int:
        """Waiting for QA's inspection (started by a tester, not a caller)."""
        instance = start(self.store)
        complete(self.store, instance, "register_delivery", "zhang.proc", DELIVERY)
        return instance

    def new_proc_instance(self) -> int:
        return start(self.store)

    def own_sampling(self) -> int:
        """Started by li.qa, nobody has acted yet: li.qa may still withdraw it."""
        with self.store.writing() as uow:
            return instances.start_process(uow, "qa_sampling", None, "li.qa").id

    def handed_off_sampling(self) -> int:
        """Started by li.qa, then procurement registered the delivery: the handoff."""
        instance = self.own_sampling()
        complete(self.store, instance, "register_delivery", "zhang.proc", DELIVERY)
        return instance

    def finished_instance(self) -> int:
        instance = self.new_qa_instance()
        complete(self.store, instance, "inspect_goods", "li.qa", PASS)
        complete(self.store, instance, "warehouse_intake", "guo.wh",
                 {"storage_location": "A-1", "received_quantity": 10})
        return instance

    def suspended_qa_instance(self) -> int:
        instance = self.new_qa_instance()
        with self.store.writing() as uow:
            lifecycle.suspend(uow, actor_named(uow, "admin"), instance, "stock count")
        return instance

    def errored_instance(self) -> int:
        """Its script failed at the start: nobody but admins and designers sees it."""
        instance = start(self.store, "failing")
        with self.store.reading() as uow:
            assert instances.get_instance(uow, instance).status == "error"
        return instance

    def absent_qa_staff(self) -> str:
        """li.qa, with an absence recorded (by admin)."""
        answer = self.call("admin", "PUT", "/api/v1/employees/li.qa/absence", ABSENCE)
        assert answer.status_code == 200, answer.json
        return "li.qa"

    def new_period(self) -> str:
        return next(self.periods)

    def draft_run(self) -> int:
        response = self.call("admin", "POST", "/api/v1/payroll-runs", {"period": self.new_period()})
        assert response.status_code == 201, response.json
        return response.json["id"]

    def final_run(self) -> int:
        """A run prepared by admin, approved by qian.hr and finalised (shared by the cells)."""
        run_id = self.approved_run()
        answer = self.call("admin", "POST", f"/api/v1/payroll-runs/{run_id}/finalize", None)
        assert answer.status_code == 200, answer.json
        return run_id

    def approved_run(self) -> int:
        """A draft prepared by admin and approved by the second HR user, qian.hr."""
        run_id = self.draft_run()
        answer = self.call("qian.hr", "POST", f"/api/v1/payroll-runs/{run_id}/approve", None)
        assert answer.status_code == 200, answer.json
        return run_id

    def failed_delivery(self) -> str:
        """A webhook delivery to a department whose org entry has no webhook: it fails."""
        with self.store.writing() as uow:
            notify(uow, NotificationKind.TASK_READY, [], {"task": {"id": "t", "name": "n"}},
                   utcnow(), departments=["qa"],
                   channels_of={"qa": {"webhook": "http://127.0.0.1:9/", "secret": "s"}})
            uow.commit()
        assert deliver(self.store, policy=DeliveryPolicy(max_attempts=1)).failed == 1
        with self.store.reading() as uow:
            return uow.session.scalars(select(Delivery.id).where(
                Delivery.status == DeliveryStatus.FAILED)).first()

    def fill(self, template: str) -> str:
        """Put shared ids, or fresh ones for FRESH names, into a path or value."""
        names = {name: getattr(self, name)() if name in FRESH else self.shared[name]
                 for name in _placeholders(template)}
        return template.format(**names)


def _placeholders(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def _fill_body(world: World, body):
    if isinstance(body, dict):
        return {key: _fill_body(world, value) for key, value in body.items()}
    if isinstance(body, list):
        return [_fill_body(world, value) for value in body]
    if isinstance(body, str) and body.strip("{}") in world.shared and \
            body == f"{{{body.strip('{}')}}}":
        return world.shared[body.strip("{}")]  # the id itself: a number stays a number
    return world.fill(body) if isinstance(body, str) else body


@pytest.fixture
def world(store) -> World:
    return World(store)


def test_authorization_matrix(world):
    """Every cell, one request each from the same starting point; all mismatches at once."""
    wrong = []
    for method, template, body, expected in MATRIX:
        for caller, status in zip(CALLERS, expected, strict=True):
            path, payload = world.fill(template), _fill_body(world, body)
            response = world.call(caller, method, path, payload)
            if response.status_code != status:
                detail = (response.json or {}).get("detail") if response.is_json else ""
                wrong.append(f"{method} {template} as {caller}: expected {status}, "
                             f"got {response.status_code} {detail or ''}")
            elif status >= 400 and response.content_type != "application/problem+json":
                wrong.append(f"{method} {template} as {caller}: {status} is not a problem document")
    assert not wrong, "\n".join(wrong)


def test_matrix_covers_every_endpoint(store):
    """A new endpoint must get a row here before it ships."""
    app = create_app(Settings(store.database_url), store=store)
    adapter = app.url_map.bind("localhost")
    covered = set()
    for method, template, _, _ in MATRIX:
        path = template.split("?")[0].format(**{name: "1" for name in _placeholders(template)})
        covered.add((method, adapter.match(path, method)[0]))
    endpoints = {(method, rule.endpoint) for rule in app.url_map.iter_rules()
                 if rule.endpoint.startswith("api.")
                 for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert endpoints - covered == set()


def test_salaries_only_for_hr_and_admins(world):
    for caller, sees in SEES_SALARIES.items():
        people = world.call(caller, "GET", "/api/v1/employees").json
        assert people, caller
        assert all(("base_salary" in p) is sees and ("bonus_base" in p) is sees
                   for p in people), caller
