"""Requests sent with an `Idempotency-Key`: done at most once, a retry gets the first answer.

A client whose response was lost (a dropped connection, a timeout) cannot know whether
its completion happened; retrying blindly either completes twice or meets a confusing
409 "already completed". With a key, the retry gets the first answer instead.

The key's row is inserted first thing in the use case's own transaction and holds the
answer when that transaction commits, so the change and its stored answer exist together
or not at all: no crash window in which a retry could find the change without its answer.
A concurrent request with the same key waits for the first to commit (PostgreSQL: on the
row's primary key; SQLite: on the write lock every writer takes with BEGIN IMMEDIATE) and
then answers with the stored answer. Only successes are stored: a refused request changed
nothing, so running it again is as good as replaying its refusal.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from services.errors import InvalidInput
from services.persistence.models import IdempotencyKey, utcnow
from services.persistence.unit_of_work import Store, UnitOfWork

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
KEPT_FOR = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool


KEY_RULE = f"1 to {MAX_KEY_LENGTH} printable ASCII characters."


def is_valid_key(key: str) -> bool:
    return 1 <= len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


def check_key(key: str) -> None:
    if not is_valid_key(key):
        raise InvalidInput(f"the {HEADER} header is invalid", {HEADER: [KEY_RULE]})


def fingerprint(method: str, path: str, body: Any) -> str:
    """What makes two requests the same: method, path and the body as canonical JSON."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode("utf-8")).hexdigest()


class _HeldCommit(UnitOfWork):
    """The use case's unit of work, whose commit only flushes: the caller commits once the
    answer is stored beside the change. `committed` tells whether the use case got as far
    as committing, so that work it commits before refusing (an incident) is kept."""

    committed = False

    def commit(self) -> None:
        self.settle()
        self.flush()
        self.committed = True


def once(store: Store, username: str, key: str, request_fingerprint: str,
         use_case: Callable[[UnitOfWork], dict[str, Any]]) -> Answer:
    """Run `use_case` (which commits its unit of work, answers 200 with the dict it
    returns) unless this caller's key already has an answer; then answer with that."""
    check_key(key)
    with store.writing() as uow:
        now = utcnow()
        # Cheap: an index range that is empty except just after keys expire.
        expired = IdempotencyKey.created_at < now - KEPT_FOR
        uow.session.execute(delete(IdempotencyKey).where(expired))
        stored = uow.session.get(IdempotencyKey, (username, key))
        if stored is None:
            row = IdempotencyKey(username=username, key=key, created_at=now,
                                 request_fingerprint=request_fingerprint, status_code=0,
                                 response={})
            uow.session.add(row)
            try:
                uow.flush()
            except IntegrityError:
                # A concurrent request with this key committed first (PostgreSQL; SQLite's
                # writers queue, so there the row was already visible): its answer is ours.
                uow.session.rollback()
                stored = uow.session.get(IdempotencyKey, (username, key))
            else:
                return _first(uow, row, use_case)
        if stored.request_fingerprint != request_fingerprint:
            raise InvalidInput(f"this {HEADER} was used for a different request",
                               {HEADER: ["Already used for another request; use a new key."]})
        return Answer(stored.status_code, stored.response, replayed=True)


def _first(uow: UnitOfWork, row: IdempotencyKey,
           use_case: Callable[[UnitOfWork], dict[str, Any]]) -> Answer:
    held = _HeldCommit(uow.session, uow.models, uow.directories)
    try:
        body = use_case(held)
    except Exception:
        if held.committed:
            # Keep what the use case committed before it failed, but not the key: there is
            # no answer to give again.
            uow.session.delete(row)
            uow.commit()
        raise
    row.status_code, row.response = 200, body
    uow.commit()
    return Answer(200, body, replayed=False)
