"""The bell in every page's header, the notifications page and its settings form."""
from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from services.notify.delivery import DeliveryPolicy
from services.persistence.models import Delivery
from services.persistence.statuses import DeliveryStatus

from services.settings import Settings
from tests.notify.support import WEBHOOK_SECRET, deliver, demo_org, import_org, opt_in
from tests.services.helpers import DELIVERY, complete, deploy, start
from tests.web.sign_in_helpers import csrf_of, page_sign_in
from web.app import create_app

BADGE = re.compile(r'id="unread-count">(\d+)<')


@pytest.fixture
def app(store):
    import_org(store, demo_org())
    deploy(store)
    return create_app(Settings(store.database_url, secret_key="test"), store=store)


def inspections_ready(store, count: int) -> None:
    for _ in range(count):
        complete(store, start(store), "register_delivery", "zhang.proc", DELIVERY)


def badge(client, path: str = "/inbox") -> int:
    return int(BADGE.search(client.get(path).text).group(1))


def test_the_bell_shows_the_unread_count_on_every_page(app, store):
    opt_in(store, "li.qa")
    inspections_ready(store, 2)
    client = app.test_client()
    page_sign_in(client, "li.qa")
    for path in ("/inbox", "/processes", "/org", "/notifications"):
        assert badge(client, path) == 2, path
    other = app.test_client()
    page_sign_in(other, "he.qa")  # did not opt in
    assert badge(other) == 0


def test_reading_one_then_all_clears_the_bell(app, store):
    opt_in(store, "li.qa")
    inspections_ready(store, 3)
    client = app.test_client()
    page_sign_in(client, "li.qa")
    page = client.get("/notifications").text
    assert page.count("New task: Inspect goods") == 3
    first = re.search(r'data-notification-id="(\d+)"', page).group(1)
    token = csrf_of(client, "/notifications")
    client.post("/notifications/read", data={"id": first, "csrf_token": token})
    assert badge(client) == 2
    client.post("/notifications/read", data={"csrf_token": token})
    assert badge(client) == 0
    assert client.post("/notifications/read", data={}).status_code == 400  # no CSRF token


def test_the_settings_form_changes_my_channels(app, store):
    client = app.test_client()
    page_sign_in(client, "he.qa")
    token = csrf_of(client, "/notifications")
    answer = client.post("/notifications/settings", follow_redirects=True,
                         data={"csrf_token": token, "app": "on", "department_tasks": "on"})
    assert "Your notification settings are saved." in answer.text
    assert re.search(r'name="email"\s*>', answer.text)  # unchecked now
    inspections_ready(store, 1)
    assert badge(client) == 1


def test_notifications_read_in_chinese_when_the_pages_are(app, store):
    opt_in(store, "li.qa")
    inspections_ready(store, 1)
    client = app.test_client()
    page_sign_in(client, "li.qa")
    client.post("/language", data={"lang": "zh", "csrf_token": csrf_of(client, "/inbox")})
    page = client.get("/notifications").text
    assert "新任务：检验来货" in page and "全部标为已读" in page  # its i18n:zh-CN label


def test_the_notifications_page_needs_a_signed_in_user(app):
    answer = app.test_client().get("/notifications")
    assert answer.status_code == 302 and "/sign-in" in answer.headers["Location"]


def test_admins_list_failed_deliveries_and_resend_them_from_their_page(store):
    """QA's webhook refuses connections: after its only attempt the delivery is failed. The
    admin finds it from the menu with its channel, recipient, error and attempts, and
    resends it (CSRF token required); others are refused the page."""
    import_org(store, demo_org({"webhook": "http://127.0.0.1:9/hook?token=t0ken-s3cret",
                                "secret": WEBHOOK_SECRET}))
    deploy(store)
    app = create_app(Settings(store.database_url, secret_key="test"), store=store)
    inspections_ready(store, 1)
    assert deliver(store, policy=DeliveryPolicy(max_attempts=1)).failed == 1
    with store.reading() as uow:
        [failed] = uow.session.scalars(select(Delivery)).all()
    admin = app.test_client()
    page_sign_in(admin, "admin")
    assert 'href="/notifications/deliveries"' in admin.get("/inbox").text  # in the menu
    page = admin.get("/notifications/deliveries").text
    row = re.search(rf'data-delivery-id="{failed.id}">(.*?)</tr>', page, re.S).group(1)
    cells = [unescape(cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[:5] == ["webhook", "qa", "task_ready", "failed", "1"]
    assert cells[5].startswith("ConnectionRefusedError") and "t0ken-s3cret" not in page
    assert WEBHOOK_SECRET not in page
    resend = f"/notifications/deliveries/{failed.id}/resend"
    assert admin.post(resend).status_code == 400  # no CSRF token
    answer = admin.post(resend, data={"csrf_token": csrf_of(admin, "/notifications/deliveries")},
                        follow_redirects=True)
    assert f"Delivery {failed.id} to qa is queued again." in answer.text
    assert f'data-delivery-id="{failed.id}"' not in answer.text  # no longer failed
    with store.reading() as uow:
        again = uow.session.get(Delivery, failed.id)
        assert (again.status, again.attempts) == (DeliveryStatus.PENDING, 0)
    twice = admin.post(resend, data={"csrf_token": csrf_of(admin, "/notifications/deliveries")},
                       follow_redirects=True)
    assert "only a failed one is resent" in twice.text  # a flashed conflict, not a 500
    assert admin.post("/notifications/deliveries/nope/resend", data={
        "csrf_token": csrf_of(admin, "/notifications/deliveries")}).status_code == 404
    clerk = app.test_client()
    page_sign_in(clerk, "li.qa")
    assert "/notifications/deliveries" not in clerk.get("/inbox").text
    assert clerk.get("/notifications/deliveries").status_code == 403
    assert clerk.post(resend, data={"csrf_token": csrf_of(clerk, "/inbox")}).status_code == 403
