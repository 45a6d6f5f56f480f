"""Single sign-on against a real OpenID Connect provider (oidc-provider-mock, a provider
built for tests, served over HTTP on a thread): the authorization-code flow end to end,
ID token checked by Authlib, roles from mapped groups, refusals, and API tokens for
people who signed in without a password."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from oidc_provider_mock import User, run_server_in_thread
from sqlalchemy import select

from services.persistence.models import AuditEntry, Employee
from services.settings import Settings
from tests.services.helpers import import_demo_org
from web.app import create_app

GROUP_ROLES = "dutyflow-staff=staff,dutyflow-hr=hr,dutyflow-hr=staff,dutyflow-admins=admin"
PEOPLE = [
    User(sub="sub-li", claims={"preferred_username": "li.qa",
                               "groups": ["dutyflow-staff", "other"]}),
    User(sub="sub-zhao", claims={"preferred_username": "zhao.hr", "groups": ["dutyflow-hr"]}),
    User(sub="sub-guest", claims={"preferred_username": "li.qa", "groups": ["contractors"]}),
    User(sub="sub-stranger", claims={"preferred_username": "nobody",
                                     "groups": ["dutyflow-staff"]})]


@pytest.fixture(scope="module")
def provider():
    with run_server_in_thread(user_claims=PEOPLE, require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


def make_app(store, provider: str, **overrides):
    import_demo_org(store)
    settings = Settings(store.database_url, secret_key="test", oidc_issuer=provider,
                        oidc_client_id="dutyflow", oidc_client_secret="client-secret",
                        oidc_group_roles=GROUP_ROLES, **overrides)
    return create_app(settings, store=store)


def sign_on(client, subject: str, next_page: str = ""):
    """DutyFlow -> provider (the person picks who they are) -> DutyFlow's callback."""
    start = client.get("/sign-in/sso" + (f"?next={next_page}" if next_page else ""))
    assert start.status_code == 302
    chosen = requests.post(start.headers["Location"], data={"sub": subject},
                           allow_redirects=False, timeout=10)
    assert chosen.status_code == 302, chosen.text
    back = urlsplit(chosen.headers["Location"])
    assert back.path == "/sign-in/sso/callback"
    return client.get(f"{back.path}?{back.query}")


def test_a_mapped_employee_signs_in_and_lands_on_the_page_they_asked_for(store, provider):
    client = make_app(store, provider).test_client()
    answer = sign_on(client, "sub-li", next_page="/processes")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/processes")
    assert client.get("/inbox").status_code == 200


def test_roles_come_from_mapped_groups_and_their_change_is_audited(store, provider):
    client = make_app(store, provider).test_client()
    with store.writing() as uow:
        uow.session.scalars(select(Employee).where(Employee.username == "li.qa")).one() \
            .roles = ["staff", "designer"]
        uow.commit()
    assert sign_on(client, "sub-li").status_code == 302
    with store.reading() as uow:
        assert uow.session.scalar(select(Employee.roles)
                                  .where(Employee.username == "li.qa")) == ["staff"]
        entry = uow.session.scalars(select(AuditEntry)
                                    .where(AuditEntry.action == "roles from sign-on")).one()
        assert (entry.old, entry.new) == (["designer", "staff"], ["staff"])
    assert client.get("/designer").status_code == 403  # the designer role is gone


def test_an_unmapped_group_or_a_stranger_is_refused(store, provider):
    client = make_app(store, provider).test_client()
    unmapped = sign_on(client, "sub-guest")
    assert unmapped.status_code == 403
    assert "mapped to a DutyFlow role" in unmapped.get_data(as_text=True)
    stranger = sign_on(client, "sub-stranger")
    assert stranger.status_code == 403 and "not an active employee" in stranger.get_data(
        as_text=True)
    assert client.get("/inbox").status_code == 302  # still signed out


def test_a_forged_callback_is_refused(store, provider):
    client = make_app(store, provider).test_client()
    client.get("/sign-in/sso")
    forged = client.get("/sign-in/sso/callback?code=made-up&state=made-up")
    assert forged.status_code == 401
    assert client.get("/inbox").status_code == 302


def test_with_password_sign_in_off_tokens_come_from_the_signed_in_page(store, provider):
    client = make_app(store, provider, password_sign_in=False).test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    assert "/sign-in/sso" in page and 'name="password"' not in page
    refused = client.post("/api/v1/auth/token", json={"username": "zhao.hr", "password": "demo"})
    assert refused.status_code == 403 and "switched off" in refused.json["detail"]
    assert sign_on(client, "sub-zhao").status_code == 302
    form = client.get("/notifications").get_data(as_text=True)
    csrf = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    shown = client.post("/account/api-token", data={"csrf_token": csrf})
    assert shown.status_code == 200
    token = shown.get_data(as_text=True).split('<code id="api-token">', 1)[1].split("<", 1)[0]
    audit = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"})
    assert audit.status_code == 200  # HR's role, from the mapped group
