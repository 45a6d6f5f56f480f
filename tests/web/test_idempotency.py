"""Completions sent with an Idempotency-Key, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from services.errors import Conflict
from services.persistence import idempotency
from services.persistence.models import Department, IdempotencyKey, TaskEvent, utcnow
from services.settings import Settings
from tests.services.helpers import DELIVERY, deploy, import_demo_org, ready_task, start
from web.app import create_app

KEY = {"Idempotency-Key": "3f1c9a7e-0b5d-4c1e-9a8f-2d6b7e4c1a90"}


@pytest.fixture
def app(store):
    import_demo_org(store)
    deploy(store)
    return create_app(Settings(store.database_url), store=store)


@pytest.fixture
def task_id(store, app) -> str:
    return ready_task(store, start(store), "register_delivery").id


def _token(client) -> dict:
    response = client.post("/api/v1/auth/token", json={"username": "zhang.proc",
                                                       "password": "demo"})
    return {"Authorization": f"Bearer {response.json['token']}"}


def _completions(store, task_id: str) -> int:
    with store.reading() as uow:
        return uow.session.scalar(select(func.count()).select_from(TaskEvent).where(
            TaskEvent.task_id == task_id, TaskEvent.kind == "completed"))


def test_a_retried_completion_gets_the_first_answer_and_completes_once(store, app, task_id):
    client = app.test_client()
    headers = {**_token(client), **KEY}
    first = client.post(f"/api/v1/tasks/{task_id}/complete", headers=headers,
                        json={"data": DELIVERY})
    retry = client.post(f"/api/v1/tasks/{task_id}/complete", headers=headers,
                        json={"data": dict(reversed(DELIVERY.items()))})  # same JSON, reordered
    assert first.status_code == retry.status_code == 200
    assert retry.get_data() == first.get_data()
    assert "Idempotent-Replayed" not in first.headers
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert _completions(store, task_id) == 1
    unkeyed = client.post(f"/api/v1/tasks/{task_id}/complete", headers=_token(client),
                          json={"data": DELIVERY})
    assert unkeyed.status_code == 409  # what a retry without a key would have met


def test_the_same_key_on_another_request_is_422(app, task_id):
    client = app.test_client()
    headers = {**_token(client), **KEY}
    assert client.post(f"/api/v1/tasks/{task_id}/complete", headers=headers,
                       json={"data": DELIVERY}).status_code == 200
    other = client.post(f"/api/v1/tasks/{task_id}/complete", headers=headers,
                        json={"data": {**DELIVERY, "quantity": 11}})
    assert other.status_code == 422 and "Idempotency-Key" in other.json["errors"]


@pytest.mark.parametrize("key", ["", "x" * 201, "tab\there", "clé"])
def test_a_key_that_is_not_1_to_200_printable_ascii_characters_is_422(app, task_id, key):
    client = app.test_client()
    response = client.post(f"/api/v1/tasks/{task_id}/complete",
                           headers={**_token(client), "Idempotency-Key": key},
                           json={"data": DELIVERY})
    assert response.status_code == 422 and "Idempotency-Key" in response.json["errors"]


def test_a_refused_completion_leaves_the_key_unused(store, app, task_id):
    client = app.test_client()
    headers = {**_token(client), **KEY}
    refused = client.post(f"/api/v1/tasks/{task_id}/complete", headers=headers,
                          json={"data": {"quantity": 0}})
    assert refused.status_code == 422
    done = client.post(f"/api/v1/tasks/{task_id}/complete", headers=headers,
                       json={"data": DELIVERY})
    assert done.status_code == 200 and "Idempotent-Replayed" not in done.headers
    assert _completions(store, task_id) == 1


def test_a_key_older_than_a_day_is_forgotten(store, app, task_id):
    with store.writing() as uow:
        uow.session.add(IdempotencyKey(username="zhang.proc", key=KEY["Idempotency-Key"],
                                       request_fingerprint="0" * 64, status_code=200,
                                       response={}, created_at=utcnow() - dt.timedelta(hours=25)))
        uow.commit()
    client = app.test_client()
    done = client.post(f"/api/v1/tasks/{task_id}/complete", headers={**_token(client), **KEY},
                       json={"data": DELIVERY})
    assert done.status_code == 200 and "Idempotent-Replayed" not in done.headers


def test_two_concurrent_completions_with_one_key_complete_once(store, app, task_id):
    headers = {**_token(app.test_client()), **KEY}
    start_together = threading.Barrier(2)
    answers = []

    def complete():
        client = app.test_client()
        start_together.wait()
        answers.append(client.post(f"/api/v1/tasks/{task_id}/complete", headers=headers,
                                   json={"data": DELIVERY}))

    threads = [threading.Thread(target=complete) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].get_data() == answers[1].get_data()
    assert sorted(answer.headers.get("Idempotent-Replayed", "") for answer in answers) == \
        ["", "true"]
    assert _completions(store, task_id) == 1


def test_work_a_use_case_commits_before_it_fails_is_kept_without_the_key(store):
    def commits_then_refuses(uow):
        uow.session.add(Department(key="incidents", name="recorded before the refusal"))
        uow.commit()
        raise Conflict("refused after committing")

    with pytest.raises(Conflict):
        idempotency.once(store, "zhang.proc", "k", "f" * 64, commits_then_refuses)
    with store.reading() as uow:
        assert uow.session.scalar(select(Department.name).where(Department.key == "incidents"))
        assert uow.session.get(IdempotencyKey, ("zhang.proc", "k")) is None


def test_the_openapi_document_declares_the_idempotency_key(app):
    document = app.test_client().get("/api/v1/openapi.json").json
    operation = document["paths"]["/api/v1/tasks/{task_id}/complete"]["post"]
    assert "Idempotency-Key" in [parameter["name"] for parameter in operation["parameters"]]
    assert "Idempotent-Replayed" in operation["responses"]["200"]["headers"]
