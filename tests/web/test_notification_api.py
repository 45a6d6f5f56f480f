"""The notification endpoints: each person's own list and settings; deliveries for admins."""
from __future__ import annotations

import pytest

from services.settings import Settings
from tests.notify.support import WEBHOOK_SECRET, deliver, demo_org, import_org
from tests.services.helpers import DELIVERY, deploy
from tests.web.test_api import sign_in
from web.app import create_app

API = "/api/v1"


@pytest.fixture
def client(store):
    import_org(store, demo_org({"webhook": "http://127.0.0.1:9/hook?token=hidden",
                                "secret": WEBHOOK_SECRET},
                               **{"li.qa": {"email": "li.na@example.com", "locale": "zh-CN"}}))
    deploy(store)
    app = create_app(Settings(store.database_url, base_url="https://duty.example"), store=store)
    return app.test_client()


def inspection_ready(client, clerk) -> dict:
    started = client.post(f"{API}/process-instances", headers=clerk,
                          json={"process_key": "inbound_materials"}).json
    done = client.post(f"{API}/tasks/{started['tasks'][0]['id']}/complete", headers=clerk,
                       json={"data": DELIVERY})
    assert done.status_code == 200, done.json
    return done.json["tasks"][0]


def opt_in(client, headers) -> None:
    answer = client.put(f"{API}/me/notification-settings", headers=headers,
                        json={"department_tasks": True})
    assert answer.status_code == 200 and answer.json["department_tasks"] is True


def test_settings_default_to_app_and_email_and_change_one_key_at_a_time(client):
    li = sign_in(client, "li.qa")
    assert client.get(f"{API}/me/notification-settings", headers=li).json == {
        "app": True, "email": True, "department_tasks": False,
        "email_address": "li.na@example.com"}
    changed = client.put(f"{API}/me/notification-settings", headers=li, json={"email": False})
    assert changed.json == {"app": True, "email": False, "department_tasks": False,
                            "email_address": "li.na@example.com"}
    bad = client.put(f"{API}/me/notification-settings", headers=li,
                     json={"email": "often", "sms": True})
    assert bad.status_code == 422 and set(bad.json["errors"]) == {"email", "sms"}
    assert client.get(f"{API}/me/notification-settings").status_code == 401


def test_my_notifications_come_newest_first_with_the_unread_count(client):
    li, he, clerk = sign_in(client, "li.qa"), sign_in(client, "he.qa"), sign_in(client, "zhang.proc")
    opt_in(client, li)
    opt_in(client, he)
    first, second = inspection_ready(client, clerk), inspection_ready(client, clerk)
    mine = client.get(f"{API}/notifications", headers=li).json
    assert mine["unread"] == 2
    assert [n["task_id"] for n in mine["notifications"]] == [second["id"], first["id"]]
    newest = mine["notifications"][0]
    assert newest["kind"] == "task_ready" and newest["read_at"] is None
    assert newest["title"] == "新任务：检验来货"  # li.qa's locale is zh-CN: the zh-CN label
    assert newest["url"] == f"https://duty.example/tasks/{second['id']}"
    english = client.get(f"{API}/notifications", headers=he).json["notifications"][0]
    assert english["title"] == "New task: Inspect goods"
    paged = client.get(f"{API}/notifications", headers=li,
                       query_string={"before": newest["id"], "limit": 5}).json
    assert [n["task_id"] for n in paged["notifications"]] == [first["id"]]


def test_marking_read_touches_only_my_own_notifications(client):
    li, he, clerk = sign_in(client, "li.qa"), sign_in(client, "he.qa"), sign_in(client, "zhang.proc")
    opt_in(client, li)
    opt_in(client, he)
    inspection_ready(client, clerk)
    [mine] = client.get(f"{API}/notifications", headers=li).json["notifications"]
    [theirs] = client.get(f"{API}/notifications", headers=he).json["notifications"]
    answer = client.post(f"{API}/notifications/read", headers=li,
                         json={"ids": [mine["id"], theirs["id"]]})
    assert answer.status_code == 200 and answer.json == {"unread": 0}
    assert client.get(f"{API}/notifications", headers=he).json["unread"] == 1
    assert client.get(f"{API}/notifications", headers=li,
                      query_string={"unread": "true"}).json["notifications"] == []
    assert client.post(f"{API}/notifications/read", headers=li,
                       json={"ids": []}).status_code == 422
    assert client.post(f"{API}/notifications/read", headers=li,
                       json={"ids": ["x"]}).status_code == 422


def test_only_admins_see_deliveries_and_resend_them(client, store):
    clerk, admin = sign_in(client, "zhang.proc"), sign_in(client, "admin")
    inspection_ready(client, clerk)
    from services.notify.delivery import DeliveryPolicy
    assert deliver(store, policy=DeliveryPolicy(max_attempts=1)).failed == 1
    assert client.get(f"{API}/notifications/deliveries", headers=clerk).status_code == 403
    [failed] = client.get(f"{API}/notifications/deliveries", headers=admin,
                          query_string={"status": "failed"}).json
    assert (failed["channel"], failed["target"], failed["attempts"]) == ("webhook", "qa", 1)
    assert failed["last_error"].startswith("ConnectionRefusedError")
    assert "hidden" not in str(failed) and WEBHOOK_SECRET not in str(failed)
    resend = f"{API}/notifications/deliveries/{failed['id']}/resend"
    assert client.post(resend, headers=clerk).status_code == 403
    again = client.post(resend, headers=admin)
    assert again.status_code == 200 and (again.json["status"], again.json["attempts"]) == (
        "pending", 0)
    assert again.json["id"] == failed["id"]  # the same delivery id: receivers de-duplicate
    assert client.post(resend, headers=admin).status_code == 409  # pending, not failed
    assert client.post(f"{API}/notifications/deliveries/nope/resend",
                       headers=admin).status_code == 404
    assert client.get(f"{API}/notifications/deliveries", headers=admin,
                      query_string={"status": "lost"}).status_code == 422


def test_department_answers_never_show_notification_urls_or_secrets(client):
    admin = sign_in(client, "admin")
    text = client.get(f"{API}/departments", headers=admin).get_data(as_text=True)
    assert "hidden" not in text and WEBHOOK_SECRET not in text and "notify" not in text
