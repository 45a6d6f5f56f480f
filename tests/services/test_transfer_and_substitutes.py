"""Handing a task on (transfer, 转交) and substitutes of absent people, on a real database."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from services.errors import Conflict, InvalidInput, NotFound, PermissionDenied, ServiceError
from services.identity.access import actor_named
from services.notify import follow_ups
from services.notify.messages import render
from services.org import absences
from services.persistence.models import AuditEntry, Notification, TaskEvent, utcnow
from services.persistence.statuses import NotificationKind
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
from tests.notify.support import demo_org, import_org
from tests.services.helpers import import_demo_org
from web.notifications import catalogs


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


def told(store) -> list[tuple[str, str, str | None]]:
    """(recipient, kind, on_behalf_of) of every notification, oldest first."""
    with store.reading() as uow:
        return [(note.recipient, note.kind, note.payload.get("on_behalf_of"))
                for note in uow.session.scalars(select(Notification).order_by(Notification.id))]


def test_while_a_person_is_away_their_substitute_is_told_of_the_work_routed_to_them(store):
    """li.qa is away, he.qa stands in: the ready task routed to li.qa, a task assigned and
    one transferred to her, and the reminders of all three reach he.qa, saying for whom;
    li.qa hears nothing until she is back."""
    import_org(store, demo_org(qa={"remind_after": "PT1H"}))
    deploy(store, routed('camunda:assignee="li.qa"', key="direct"), "direct.bpmn")
    deploy(store, routed('camunda:candidateUsers="wang.qa"'))
    to_assign, to_transfer = (open_tasks(store, start(store, "zhang.proc").id)[0].id
                              for _ in range(2))
    assert told(store) == [("wang.qa", NotificationKind.TASK_READY, None)] * 2
    set_absence(store, "wang.qa", "li.qa", "he.qa")
    [direct] = open_tasks(store, start(store, "zhang.proc", key="direct").id)
    with store.writing() as uow:
        tasks.assign(uow, actor_named(uow, "wang.qa"), to_assign, "li.qa")
    transfer(store, "wang.qa", to_transfer, "li.qa")
    stand_in = [("he.qa", kind, "li.qa") for kind in (
        NotificationKind.TASK_READY, NotificationKind.TASK_ASSIGNED,
        NotificationKind.TASK_TRANSFERRED)]
    assert told(store)[2:] == stand_in
    assert follow_ups.run_due(store, utcnow() + dt.timedelta(hours=1, minutes=1)) == 3
    assert told(store)[5:] == [("he.qa", NotificationKind.TASK_REMINDER, "li.qa")] * 3
    with store.reading() as uow:
        note = uow.session.scalars(select(Notification).where(
            Notification.task_id == direct.id)).first()
    text = render(note.kind, note.payload, catalogs().gettext("zh-CN"), "https://duty.example")
    assert "li.qa 不在岗" in text.body and text.url.endswith(f"/tasks/{direct.id}")
    assert "substitute of li.qa" in render(note.kind, note.payload, catalogs().gettext("en"),
                                           "").body
    complete(store, "he.qa", direct.id)  # the completion says on whose behalf
    assert only_event(store).on_behalf_of == "li.qa"
    with store.writing() as uow:
        absences.end_absence(uow, actor_named(uow, "li.qa"), "li.qa")
    start(store, "zhang.proc", key="direct")
    assert told(store)[-1] == ("li.qa", NotificationKind.TASK_READY, None)
    assert "li.qa" not in [recipient for recipient, _, _ in told(store)[:-1]]


def test_a_substitute_who_may_take_the_task_anyway_is_told_once(org):
    """Candidate users li.qa (away) and he.qa (her substitute): he.qa hears once, as himself."""
    deploy(org, routed('camunda:candidateUsers="li.qa, he.qa"'))
    set_absence(org, "li.qa", "li.qa", "he.qa")
    start(org, "zhang.proc")
    assert told(org) == [("he.qa", NotificationKind.TASK_READY, None)]
