"""Signing in through the page form and the API, as the security tests need it."""
from __future__ import annotations

import re

import pytest

from services.settings import Settings
from tests.services.helpers import import_demo_org
from web.app import create_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(store):
    import_demo_org(store)
    return create_app(Settings(store.database_url, secret_key="test"), store=store)


def csrf_of(client, path: str = "/sign-in") -> str:
    match = CSRF.search(client.get(path).text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def page_sign_in(client, username: str, password: str = "demo", **kwargs):
    """POST the sign-in form as a browser would, token included; returns the response."""
    return client.post("/sign-in", data={"username": username, "password": password,
                                         "csrf_token": csrf_of(client)}, **kwargs)


def api_sign_in(client, username: str, password: str = "demo", **kwargs):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password},
                       **kwargs)


def bearer(client, username: str) -> dict:
    response = api_sign_in(client, username)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json['token']}"}
