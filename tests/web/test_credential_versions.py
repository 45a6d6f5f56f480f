"""A new password or a sign-out ends every token and page session issued before it."""
from __future__ import annotations

import os
import subprocess
import sys

from services.org import org_file
from tests.conftest import BPMN_DIR, ROOT
from tests.web.sign_in_helpers import app, bearer, csrf_of, page_sign_in  # noqa: F401


def set_password_from_the_shell(database_url: str, username: str, password: str) -> None:
    subprocess.run([sys.executable, "-m", "web.cli", "users", "set-password", username,
                    "--password", password], env=dict(os.environ, DATABASE_URL=database_url),
                   cwd=ROOT, check=True, capture_output=True, timeout=120)


def signed_in_page(app):
    client = app.test_client()
    assert page_sign_in(client, "li.qa").status_code == 302
    assert client.get("/inbox").status_code == 200
    return client


def test_a_token_stops_working_after_a_password_change(app, store):
    client = app.test_client()
    headers = bearer(client, "li.qa")
    others = bearer(client, "he.qa")
    set_password_from_the_shell(store.database_url, "li.qa", "n3w-secret")
    refused = client.get("/api/v1/tasks", headers=headers)
    assert refused.status_code == 401 and "revoked" in refused.json["detail"]
    assert client.get("/api/v1/tasks", headers=others).status_code == 200
    renewed = client.post("/api/v1/auth/token", json={"username": "li.qa", "password": "n3w-secret"})
    assert client.get("/api/v1/tasks", headers={
        "Authorization": f"Bearer {renewed.json['token']}"}).status_code == 200


def test_a_page_session_ends_after_a_password_change(app, store):
    client = signed_in_page(app)
    set_password_from_the_shell(store.database_url, "li.qa", "n3w-secret")
    answer = client.get("/inbox")
    assert answer.status_code == 302 and "/sign-in" in answer.location


def test_a_password_changed_by_an_org_import_revokes_tokens_and_sessions(app, store):
    client = app.test_client()
    headers = bearer(client, "li.qa")
    page = signed_in_page(app)
    text = (BPMN_DIR / "demo_org.yaml").read_text("utf-8")
    li = text.index("username: li.qa")
    changed = text[:li] + text[li:].replace('password: "demo"', 'password: "n3w-secret"', 1)
    with store.writing() as uow:
        org_file.import_org(uow, changed, "demo_org.yaml", "cli:tester")
    assert client.get("/api/v1/tasks", headers=headers).status_code == 401
    assert page.get("/inbox").status_code == 302
    with store.writing() as uow:  # the same file again changes no password: nobody is out
        org_file.import_org(uow, changed, "demo_org.yaml", "cli:tester")
    assert client.get("/api/v1/tasks", headers=bearer(client, "he.qa")).status_code == 200


def test_a_copied_page_cookie_stops_working_after_sign_out(app):
    browser = signed_in_page(app)
    cookie = browser.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    assert thief.get("/inbox").status_code == 200
    signed_out = browser.post("/sign-out", data={"csrf_token": csrf_of(browser, "/inbox")})
    assert signed_out.status_code == 302
    answer = thief.get("/inbox")
    assert answer.status_code == 302 and "/sign-in" in answer.location


def test_signing_out_of_the_pages_also_revokes_api_tokens(app):
    client = app.test_client()
    headers = bearer(client, "li.qa")
    browser = signed_in_page(app)
    browser.post("/sign-out", data={"csrf_token": csrf_of(browser, "/inbox")})
    assert client.get("/api/v1/tasks", headers=headers).status_code == 401
    assert signed_in_page(app).get("/inbox").status_code == 200  # signing in again works
