"""Handing a task on (transfer, 转交) and substitutes of absent people, on a real database."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from services.errors import Conflict, InvalidInput, NotFound, PermissionDenied, ServiceError
from services.identity.access import actor_named
from services.org import absences
from services.persistence.models import AuditEntry, TaskEvent, utcnow
from tests.services.test_people_routing import (
    claim,
    complete,
    deploy,
    inbox,
    open_tasks,
    routed,
    start,
)
from services.workflow import tasks
from tests.services.helpers import import_demo_org


@pytest.fixture
def org(store):
    import_demo_org(store)
    return store


@pytest.fixture
def assigned(org):
    """A QA task routed to li.qa."""
    deploy(org, routed('camunda:assignee="li.qa"'))
    [task] = open_tasks(org, start(org, "zhang.proc").id)
    return task.id


def transfer(store, by: str, task_id: str, to: str, reason: str = "on leave tomorrow"):
    with store.writing() as uow:
        return tasks.transfer(uow, actor_named(uow, by), task_id, to, reason)


def history(store, by: str, task_id: str) -> list[tuple[str, str, str | None, str, str | None]]:
    with store.reading() as uow:
        return [(entry.actor, entry.action, entry.from_username, entry.to_username, entry.reason)
                for entry in tasks.history(uow, actor_named(uow, by), task_id)]


def set_absence(store, by: str, username: str, substitute: str, starts_in=dt.timedelta(hours=-1),
                lasts=dt.timedelta(days=1)):
    now = utcnow()
    with store.writing() as uow:
        return absences.set_absence(uow, actor_named(uow, by), username, now + starts_in,
                                    now + starts_in + lasts, substitute)


def only_event(store) -> TaskEvent:
    with store.reading() as uow:
        return uow.session.scalars(select(TaskEvent)).one()


# ------------------------------------------------------------------------------- transfer

def test_the_assignee_transfers_a_task_and_the_history_says_who_why_and_to_whom(org, assigned):
    assert transfer(org, "li.qa", assigned, "he.qa").assignee == "he.qa"
    assert history(org, "he.qa", assigned) == [
        ("li.qa", "transferred", "li.qa", "he.qa", "on leave tomorrow")]
    assert assigned in inbox(org, "he.qa") and assigned not in inbox(org, "li.qa")
    with pytest.raises(Conflict):
        complete(org, "li.qa", assigned)
    complete(org, "he.qa", assigned)
    assert only_event(org).completed_by == "he.qa"


def test_the_head_and_an_admin_may_transfer_but_a_colleague_may_not(org, assigned):
    with pytest.raises(PermissionDenied):
        transfer(org, "he.qa", assigned, "he.qa")
    transfer(org, "wang.qa", assigned, "he.qa", "balancing the load")
    transfer(org, "admin", assigned, "wang.qa", "needs a head's signature")
    assert [entry[:4] for entry in history(org, "wang.qa", assigned)] == [
        ("wang.qa", "transferred", "li.qa", "he.qa"), ("admin", "transferred", "he.qa", "wang.qa")]


@pytest.mark.parametrize("to, reason, field", [
    ("zhang.proc", "x", "username"),   # not in the owning department
    ("ghost", "x", "username"),        # nobody
    ("li.qa", "x", "username"),        # already theirs
    ("he.qa", "   ", "reason"),        # no reason
])
def test_a_transfer_outside_the_owning_departments_or_without_reason_is_invalid(
        org, assigned, to, reason, field):
    with pytest.raises(InvalidInput) as caught:
        transfer(org, "li.qa", assigned, to, reason)
    assert field in caught.value.errors
    assert history(org, "li.qa", assigned) == []


def test_a_completed_task_is_not_transferred(org, assigned):
    complete(org, "li.qa", assigned)
    with pytest.raises(Conflict):
        transfer(org, "wang.qa", assigned, "he.qa")


def test_racing_transfers_leave_a_history_that_matches_the_assignee(org, assigned):
    """Two people hand the same task on at once: each success is in the history, in
    order, and the last one holds the task; a loser gets a conflict, never a half-move."""
    outcomes: list[object] = []
    barrier = threading.Barrier(2)

    def run(by: str, to: str) -> None:
        barrier.wait()
        try:
            outcomes.append(transfer(org, by, assigned, to).assignee)
        except ServiceError as err:
            outcomes.append(err)

    threads = [threading.Thread(target=run, args=args)
               for args in (("li.qa", "he.qa"), ("wang.qa", "wang.qa"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = history(org, "admin", assigned)
    successes = [outcome for outcome in outcomes if isinstance(outcome, str)]
    assert len(entries) == len(successes) >= 1
    assert entries[0][2] == "li.qa"
    assert all(later[2] == earlier[3] for earlier, later in zip(entries, entries[1:]))
    [task] = open_tasks(org, open_tasks_instance(org, assigned))
    assert task.assignee == entries[-1][3]
    assert all(isinstance(outcome, (str, Conflict, PermissionDenied)) for outcome in outcomes)


def open_tasks_instance(store, task_id: str) -> int:
    from services.persistence.models import Task
    with store.reading() as uow:
        return uow.session.get(Task, task_id).process_instance_id


# ---------------------------------------------------------------------------- substitutes

def test_a_substitute_completes_an_absent_person_s_task_on_their_behalf(org, assigned):
    set_absence(org, "li.qa", "li.qa", "he.qa")
    assert assigned in inbox(org, "he.qa")
    with pytest.raises(Conflict):  # a colleague who is not the substitute
        complete(org, "wang.qa", assigned)
    complete(org, "he.qa", assigned)
    event = only_event(org)
    assert (event.completed_by, event.on_behalf_of, event.actor_department_key) == \
        ("he.qa", "li.qa", "qa")


def test_a_substitute_claims_in_the_absent_person_s_name_and_it_is_theirs_again_after(
        org, assigned):
    set_absence(org, "wang.qa", "li.qa", "he.qa")
    held = claim(org, "he.qa", assigned)
    assert (held.assignee, held.claimed_at is not None) == ("li.qa", True)
    with org.writing() as uow:
        absences.end_absence(uow, actor_named(uow, "li.qa"), "li.qa")
    assert assigned not in inbox(org, "he.qa") and assigned in inbox(org, "li.qa")
    with pytest.raises(Conflict):
        complete(org, "he.qa", assigned)
    complete(org, "li.qa", assigned)
    assert only_event(org).on_behalf_of is None


def test_a_substitute_stands_in_for_an_absent_candidate_user(org):
    deploy(org, routed('camunda:candidateUsers="li.qa"'))
    [task] = open_tasks(org, start(org, "zhang.proc").id)
    with pytest.raises(PermissionDenied):
        claim(org, "he.qa", task.id)
    set_absence(org, "li.qa", "li.qa", "he.qa")
    assert task.id in inbox(org, "he.qa")
    complete(org, "he.qa", task.id)
    assert (only_event(org).completed_by, only_event(org).on_behalf_of) == ("he.qa", "li.qa")


def test_an_absence_that_has_not_begun_substitutes_nobody(org, assigned):
    set_absence(org, "li.qa", "li.qa", "he.qa", starts_in=dt.timedelta(days=1))
    assert assigned not in inbox(org, "he.qa")
    with pytest.raises(Conflict):
        complete(org, "he.qa", assigned)


def test_the_substitute_must_be_another_active_member_of_the_same_department(org):
    for substitute, field in (("zhang.proc", "substitute"), ("li.qa", "substitute"),
                              ("ghost", "substitute")):
        with pytest.raises(InvalidInput) as caught:
            set_absence(org, "li.qa", "li.qa", substitute)
        assert field in caught.value.errors
    with pytest.raises(InvalidInput) as caught:
        set_absence(org, "li.qa", "li.qa", "he.qa", lasts=dt.timedelta(0))
    assert "to" in caught.value.errors


def test_an_absence_is_set_by_the_person_their_head_hr_or_an_admin_and_audited(org):
    with pytest.raises(PermissionDenied):
        set_absence(org, "he.qa", "li.qa", "he.qa")
    with pytest.raises(PermissionDenied):
        set_absence(org, "zheng.proc", "li.qa", "he.qa")  # a head, but of another department
    for by in ("li.qa", "wang.qa", "sun.prod", "qian.hr", "admin"):
        assert set_absence(org, by, "li.qa", "he.qa").set_by == by
    with pytest.raises(NotFound):
        set_absence(org, "admin", "ghost", "he.qa")
    with org.writing() as uow:
        absences.end_absence(uow, actor_named(uow, "wang.qa"), "li.qa")
    with pytest.raises(NotFound):
        with org.writing() as uow:
            absences.end_absence(uow, actor_named(uow, "wang.qa"), "li.qa")
    with org.reading() as uow:
        actions = list(uow.session.scalars(select(AuditEntry.action).where(
            AuditEntry.entity == "absence").order_by(AuditEntry.id)))
    assert actions == ["set"] * 5 + ["end"]
