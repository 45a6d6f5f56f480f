"""The access rules of services.identity.access, one rule at a time.

The rules on tasks and reports are pure functions of an Actor and a task: checked here
without a database. Who supervises whom is read from the department tree, on SQLite and
PostgreSQL, in a small org where heading a department and holding the `manager` role
come apart.
"""
from __future__ import annotations

import pytest

from services.identity.access import (
    actor_named,
    may_do,
    may_read_report,
    may_reassign,
    may_see_task,
)
from services.identity.actor import Actor
from services.org import org_file
from services.persistence.models import Task

# company
# ├── ops           (no head; ops.manager holds the manager role there)
# │   └── qa        (head: qa.head)
# │       └── lab
# └── sales
ORG = """
departments:
  - {key: company, name: Company, head: boss}
  - {key: ops, name: Operations, parent: company}
  - {key: qa, name: Quality, parent: ops, head: qa.head}
  - {key: lab, name: Laboratory, parent: qa}
  - {key: sales, name: Sales, parent: company}
  - {key: closed, name: Closed, parent: qa}
employees:
  - {username: boss, name: Boss, department: company, roles: [staff], base_salary: "1.00", bonus_base: "0.00"}
  - {username: ops.manager, name: Ops, department: ops, roles: [manager], base_salary: "1.00", bonus_base: "0.00"}
  - {username: qa.head, name: Head, department: qa, roles: [staff], base_salary: "1.00", bonus_base: "0.00"}
  - {username: qa.staff, name: Staff, department: qa, roles: [staff], base_salary: "1.00", bonus_base: "0.00"}
  - {username: sales.manager, name: Seller, department: sales, roles: [manager], base_salary: "1.00", bonus_base: "0.00"}
"""


def actor(username: str, department: str, *roles: str, supervised: set[str] = frozenset()
          ) -> Actor:
    return Actor(username, department, frozenset(roles or ("staff",)), frozenset(supervised))


def task(department: str, *candidates: str, assignee: str | None = None,
         completed_by: str | None = None) -> Task:
    return Task(department_key=department, candidate_departments=list(candidates),
                assignee=assignee, completed_by=completed_by)


@pytest.fixture
def org(store):
    with store.writing() as uow:
        org_file.import_org(uow, ORG, "org.yaml", "cli:tester")
    return store


def supervised(store, username: str) -> set[str]:
    with store.reading() as uow:
        return set(actor_named(uow, username).supervised)


def test_a_head_supervises_the_subtree_of_the_department_they_head(org):
    assert supervised(org, "qa.head") == {"qa", "lab", "closed"}


def test_the_head_of_a_parent_department_supervises_every_department_below_it(org):
    assert supervised(org, "boss") == {"company", "ops", "qa", "lab", "sales", "closed"}


def test_a_manager_supervises_the_subtree_of_their_own_department_without_heading_it(org):
    assert supervised(org, "ops.manager") == {"ops", "qa", "lab", "closed"}
    assert supervised(org, "sales.manager") == {"sales"}


def test_staff_who_head_nothing_supervise_nobody(org):
    assert supervised(org, "qa.staff") == set()


def test_a_deactivated_department_drops_out_of_the_subtree(org):
    with org.writing() as uow:
        org_file.import_org(uow, ORG.replace("  - {key: closed, name: Closed, parent: qa}\n", ""),
                            "org.yaml", "cli:tester")
    assert supervised(org, "qa.head") == {"qa", "lab"}


def test_a_duty_is_done_by_its_department_or_a_candidate_department():
    assert may_do("qa", task("qa"))
    assert may_do("lab", task("qa", "lab"))
    assert not may_do("ops", task("qa", "lab"))


def test_staff_see_their_department_s_tasks_and_no_one_else_s():
    staff = actor("qa.staff", "qa")
    assert may_see_task(staff, task("qa"))
    assert may_see_task(staff, task("sales", "qa"))
    assert not may_see_task(staff, task("sales"))


def test_a_task_one_holds_or_completed_stays_visible_after_it_moves_away():
    staff = actor("qa.staff", "qa")
    assert may_see_task(staff, task("sales", assignee="qa.staff"))
    assert may_see_task(staff, task("sales", completed_by="qa.staff"))


def test_a_supervisor_sees_the_tasks_of_the_supervised_subtree():
    head = actor("qa.head", "qa", supervised={"qa", "lab"})
    assert may_see_task(head, task("lab"))
    assert not may_see_task(head, task("ops"))


def test_an_admin_sees_every_task():
    assert may_see_task(actor("root", "company", "admin"), task("sales"))


def test_only_a_supervisor_of_an_owner_or_an_admin_may_reassign():
    head = actor("qa.head", "qa", supervised={"qa", "lab"})
    assert may_reassign(head, task("lab"))
    assert may_reassign(head, task("sales", "lab"))
    assert not may_reassign(head, task("sales"))
    assert not may_reassign(actor("qa.staff", "qa"), task("qa"))
    assert may_reassign(actor("root", "company", "admin"), task("sales"))


def test_everyone_reads_their_own_duty_report():
    assert may_read_report(actor("qa.staff", "qa"), "qa.staff", "qa")


def test_hr_and_admins_read_anyone_s_duty_report():
    assert may_read_report(actor("people", "company", "hr"), "qa.staff", "qa")
    assert may_read_report(actor("root", "company", "admin"), "qa.staff", "qa")


def test_a_manager_reads_the_reports_of_people_in_the_departments_they_oversee_only():
    manager = actor("ops.manager", "ops", "manager", supervised={"ops", "qa"})
    assert may_read_report(manager, "qa.staff", "qa")
    assert may_read_report(manager, "ops.clerk", "ops")
    assert not may_read_report(manager, "seller", "sales")


def test_a_head_without_the_manager_role_reads_no_one_else_s_report():
    head = actor("qa.head", "qa", supervised={"qa"})
    assert not may_read_report(head, "qa.staff", "qa")


def test_staff_read_no_colleague_s_report():
    assert not may_read_report(actor("qa.staff", "qa"), "qa.other", "qa")
