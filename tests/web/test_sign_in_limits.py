"""Guessing passwords is slowed per account and per address, and learns no usernames."""
from __future__ import annotations

import statistics
import time
import uuid

import pytest
from redis import Redis

from services.errors import NotAuthenticated
from services.identity.auth import check_password
from services.settings import Settings
from tests.services.helpers import import_demo_org
from tests.web.sign_in_helpers import api_sign_in, app, page_sign_in  # noqa: F401
from web.app import create_app

REDIS_URL = "redis://127.0.0.1:6379/15"
ATTACKER = {"REMOTE_ADDR": "203.0.113.66"}
COLLEAGUE = {"REMOTE_ADDR": "198.51.100.7"}


def guess_until_refused(client, username: str, sign_in=api_sign_in, limit: int = 40):
    """Wrong passwords until the answer is no longer 401; that answer and how many it took."""
    for attempt in range(1, limit + 1):
        answer = sign_in(client, username, "wrong", environ_base=ATTACKER)
        if answer.status_code != 401:
            return answer, attempt
    pytest.fail(f"{limit} wrong passwords and still no limit")


def test_wrong_passwords_for_one_account_are_refused_with_retry_after(app):
    client = app.test_client()
    answer, attempt = guess_until_refused(client, "li.qa")
    assert answer.status_code == 429 and attempt == 11  # ten failures per account a minute
    assert answer.content_type == "application/problem+json" and answer.json["status"] == 429
    assert 1 <= int(answer.headers["Retry-After"]) <= 61  # a minute, rounded up
    right = api_sign_in(client, "li.qa", environ_base=COLLEAGUE)
    assert right.status_code == 429  # the account is held, whoever asks, until the wait is over
    assert api_sign_in(client, "he.qa", environ_base=COLLEAGUE).status_code == 200


def test_the_sign_in_page_shares_the_counters_and_says_how_long_to_wait(app):
    client = app.test_client()
    for _ in range(10):
        assert api_sign_in(client, "li.qa", "wrong", environ_base=ATTACKER).status_code == 401
    answer = page_sign_in(client, "li.qa", "wrong", environ_base=ATTACKER)
    assert answer.status_code == 429 and "Too many failed sign-ins" in answer.text
    assert f"Try again in {answer.headers['Retry-After']} seconds" in answer.text
    chinese = page_sign_in(client, "li.qa", "demo", environ_base=ATTACKER,
                           headers={"Accept-Language": "zh-CN"})
    assert chinese.status_code == 429 and "登录失败次数过多" in chinese.text


def test_one_address_guessing_many_accounts_is_refused(app):
    client = app.test_client()
    usernames = [f"nobody{n}" for n in range(40)]  # never ten failures for any one account
    answers = [api_sign_in(client, name, "wrong", environ_base=ATTACKER).status_code
               for name in usernames]
    assert answers[:30] == [401] * 30 and set(answers[30:]) == {429}
    assert client.get("/sign-in", environ_base=ATTACKER).status_code == 200  # only tries count
    assert page_sign_in(client, "li.qa", environ_base=COLLEAGUE).status_code == 302


def test_successful_sign_ins_are_not_counted(app):
    client = app.test_client()
    assert all(api_sign_in(client, "li.qa", environ_base=ATTACKER).status_code == 200
               for _ in range(35))


def test_redis_holds_the_counters_for_every_process(store):
    """Two apps (two server processes) on one Redis: failures at one count at the other."""
    import_demo_org(store)
    settings = Settings(store.database_url, secret_key="test", ratelimit_storage_url=REDIS_URL)
    first, second = create_app(settings, store=store), create_app(settings, store=store)
    # A username and address of its own: other runs (the other database's, parallel or
    # repeated ones) count in this Redis too, for a minute.
    unique = uuid.uuid4()
    username = f"ghost-{unique.hex[:12]}"
    address = {"REMOTE_ADDR": "10.{}.{}.{}".format(*unique.bytes[:3])}
    for _ in range(10):
        assert api_sign_in(first.test_client(), username, "wrong",
                           environ_base=address).status_code == 401
    answer = api_sign_in(second.test_client(), username, "wrong", environ_base=address)
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) >= 1
    assert Redis.from_url(REDIS_URL).keys(f"*account:{username}*")


def test_an_unknown_username_costs_as_much_time_as_a_known_one(store):
    import_demo_org(store)

    def seconds(username: str) -> float:
        with store.reading() as uow:
            started = time.perf_counter()
            with pytest.raises(NotAuthenticated):
                check_password(uow, username, "wrong")
            return time.perf_counter() - started

    seconds("nobody")  # warm-up: the stand-in hash is made once
    known = statistics.median(seconds("li.qa") for _ in range(7))
    unknown = statistics.median(seconds("nobody") for _ in range(7))
    assert unknown >= 0.5 * known, (unknown, known)
