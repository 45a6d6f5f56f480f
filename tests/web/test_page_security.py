"""Sign-in redirects, CSRF, security headers and cookies of the pages."""
from __future__ import annotations

import pytest

from services.settings import Settings
from tests.web.sign_in_helpers import app, csrf_of, page_sign_in  # noqa: F401
from web.app import create_app
from web.pages.redirects import same_site_path

ESCAPES = ["/%09/evil.example", "//evil.example", "///evil.example", "/\\evil.example",
           "/%5Cevil.example", "\\\\evil.example", "/\t/evil.example", "/\n/evil.example",
           "/%0a/evil.example", "/%0D%0A/evil.example", "/%2F/evil.example", "/%252F/evil.example",
           "/%25%30%39/evil.example", " /inbox", "/ /evil.example", "/\u200b/evil.example",
           "/%E2%80%8B/evil.example", "/\x00/evil.example", "https://evil.example/",
           "javascript:alert(1)", "evil.example", "", "/%2509/evil.example"]
SAME_SITE = ["/inbox", "/tasks/abc?next=1", "/org?department=%E8%B4%A8%E9%87%8F%E9%83%A8",
             "/designer/view/inbound_materials/1"]


@pytest.mark.parametrize("target", ESCAPES)
def test_next_never_leaves_the_site(target):
    assert not same_site_path(target)


@pytest.mark.parametrize("target", SAME_SITE)
def test_next_keeps_a_plain_path(target):
    assert same_site_path(target)


def test_signing_in_with_an_escaping_next_goes_to_the_inbox(app):
    client = app.test_client()
    for target in ("/%09/evil.example", "//evil.example", "/\\evil.example"):
        answer = client.post("/sign-in", query_string={"next": target}, data={
            "username": "li.qa", "password": "demo", "csrf_token": csrf_of(client)})
        assert answer.status_code == 302 and answer.location == "/inbox", target
    answer = client.post("/sign-in?next=/org", data={
        "username": "li.qa", "password": "demo", "csrf_token": csrf_of(client)})
    assert answer.location == "/org"


def test_a_post_without_the_csrf_token_is_refused_right_after_sign_in(app):
    client = app.test_client()
    assert page_sign_in(client, "li.qa").status_code == 302
    refused = client.post("/sign-out", headers={"Accept-Language": "zh-CN"})
    assert refused.status_code == 400 and "表单已过期" in refused.text
    assert client.get("/inbox").status_code == 200  # still signed in: the POST did nothing
    assert client.post("/sign-out", data={"csrf_token": "forged"}).status_code == 400


def test_the_sign_in_form_needs_the_csrf_token(app):
    client = app.test_client()
    refused = client.post("/sign-in", data={"username": "li.qa", "password": "demo"})
    assert refused.status_code == 400 and "did not come from DutyFlow" in refused.text


def test_scripts_may_send_the_csrf_token_as_a_header(app):
    client = app.test_client()
    page_sign_in(client, "li.qa")
    answer = client.post("/sign-out", headers={"X-CSRF-Token": csrf_of(client, "/inbox")})
    assert answer.status_code == 302


def test_the_api_needs_no_csrf_token(app):
    answer = app.test_client().post("/api/v1/auth/token",
                                    json={"username": "li.qa", "password": "demo"})
    assert answer.status_code == 200


@pytest.mark.parametrize("path", ["/sign-in", "/api/v1/openapi.json", "/healthz", "/nowhere"])
def test_every_response_forbids_framing_sniffing_and_foreign_scripts(app, path):
    headers = app.test_client().get(path).headers
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in headers


def session_cookie(answer) -> str:
    [cookie] = [value for value in answer.headers.getlist("Set-Cookie")
                if value.startswith("session=")]
    return cookie


def test_cookies_are_secure_over_https(app):
    plain = app.test_client().get("/sign-in")
    assert "Secure" not in session_cookie(plain) and "HttpOnly" in session_cookie(plain)
    over_https = app.test_client().get("/sign-in", base_url="https://localhost")
    assert "Secure" in session_cookie(over_https)


def test_forwarded_proto_counts_only_behind_a_trusted_proxy(store):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    direct = create_app(Settings(store.database_url, secret_key="test"), store=store)
    assert "Secure" not in session_cookie(direct.test_client().get("/sign-in", headers=forwarded))
    proxied = create_app(Settings(store.database_url, secret_key="test", trusted_proxies=1),
                         store=store)
    assert "Secure" in session_cookie(proxied.test_client().get("/sign-in", headers=forwarded))


def test_with_dutyflow_https_cookies_are_always_secure_and_hsts_is_sent(store):
    app = create_app(Settings(store.database_url, secret_key="test", https=True), store=store)
    answer = app.test_client().get("/sign-in")
    assert "Secure" in session_cookie(answer)
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
