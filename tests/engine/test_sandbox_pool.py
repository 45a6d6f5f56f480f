"""The sandbox worker processes: what they inherit, what stops them, what replaces them."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from pathlib import Path

import pytest

from engine.loader import load_processes
from engine.sandbox_pool import ModelRef, ModelSource, SandboxLimits, SandboxPool, StepAborted
from engine.steps import StepRefused
from tests.engine.bpmn_builder import flow, process, user_task

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)


def scripted(script: str) -> ModelRef:
    source = process("\n".join([
        '<bpmn:startEvent id="start"/>', user_task("after"), '<bpmn:endEvent id="end"/>',
        f'<bpmn:scriptTask id="run" scriptFormat="python"><bpmn:script>{script}</bpmn:script>'
        "</bpmn:scriptTask>", flow("start", "run"), flow("run", "after"), flow("after", "end")]),
        {"QA": ["start", "run", "after", "end"]})
    [model] = load_processes(source, "scripted.bpmn")
    return ModelRef(hashlib.sha256(source).hexdigest(), model.key,
                    lambda: ModelSource(source.decode(), "scripted.bpmn"))


@pytest.fixture
def pool():
    pool = SandboxPool(SandboxLimits(workers=1, step_seconds=1.0, memory_bytes=512 * 2**20))
    yield pool
    pool.close()


def test_a_worker_inherits_no_secrets_or_descriptors(pool, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgresql://secret@db/prod")
    monkeypatch.setenv("DUTYFLOW_SECRET_KEY", "not-for-diagrams")
    held = open(tmp_path / "held.txt", "w")  # noqa: SIM115 - must stay open during the start
    try:
        pool.run(scripted("x = 1"), None, {"kind": "start"}, NOW)
    finally:
        held.close()
    [pid] = pool.worker_pids()
    proc = Path(f"/proc/{pid}")
    environment = (proc / "environ").read_bytes().split(b"\0")
    assert not [entry for entry in environment
                if entry.startswith((b"DATABASE_URL", b"DUTYFLOW_"))]
    targets = {os.readlink(fd) for fd in (proc / "fd").iterdir()}
    assert str(tmp_path / "held.txt") not in targets and len(targets) <= 4  # 3 pipes, /dev/null
    assert os.readlink(proc / "cwd") == "/"


def test_a_step_past_the_wall_clock_is_aborted_and_its_worker_replaced(pool):
    model = scripted(f"x = len(set(range(0, 35000*{2**61 - 1}, {2**61 - 1})))")
    pool.run(scripted("warm = 1"), None, {"kind": "start"}, NOW)
    [first] = pool.worker_pids()
    began = time.monotonic()
    with pytest.raises(StepAborted, match="stopped after 1 s"):
        pool.run(model, None, {"kind": "start"}, NOW)
    assert time.monotonic() - began < 2.5
    assert not Path(f"/proc/{first}").exists() or \
        Path(f"/proc/{first}/status").read_text().find("zombie") >= 0
    outcome = pool.run(scripted("y = 2"), None, {"kind": "start"}, NOW)
    assert outcome.status == "running" and outcome.data == {"y": 2}


def test_an_allocation_past_the_address_space_limit_fails_the_step_not_the_pool(pool):
    # Built in one C call (below the sandbox's own per-operation checks): only the OS
    # limit can refuse it.
    model = scripted("rows = [[0] * 99999 for i in range(2000)]\nn = len(rows)")
    outcome_or_error = None
    try:
        outcome_or_error = pool.run(model, None, {"kind": "start"}, NOW)
    except StepAborted as aborted:
        outcome_or_error = aborted
    if not isinstance(outcome_or_error, StepAborted):
        assert outcome_or_error.status == "error"
        assert "memory" in outcome_or_error.error
    assert pool.run(scripted("z = 3"), None, {"kind": "start"}, NOW).data == {"z": 3}


def test_a_refused_step_changes_nothing_and_says_why(pool):
    model = scripted("x = 1")
    outcome = pool.run(model, None, {"kind": "start"}, NOW)
    with pytest.raises(StepRefused) as refused:
        pool.run(model, outcome.state_json, {"kind": "complete", "task_id": "nope", "data": {}},
                 NOW)
    assert refused.value.kind == "task_not_ready"


def test_a_worker_is_sent_the_org_once_per_revision_and_only_for_routed_models(pool):
    from engine.people import OrgSnapshot
    from engine.sandbox_pool import OrgRef

    source = process("\n".join([
        '<bpmn:startEvent id="start"/>',
        user_task("review", attrs='camunda:assignee="${head_of(\'qa\')}"'),
        '<bpmn:endEvent id="end"/>', flow("start", "review"), flow("review", "end")]),
        {"QA": ["start", "review", "end"]})
    [model] = load_processes(source, "routed.bpmn")
    routed = ModelRef(hashlib.sha256(source).hexdigest(), model.key,
                      lambda: ModelSource(source.decode(), "routed.bpmn"))
    sent: list[str] = []

    def org(revision: str, head: str) -> OrgRef:
        def snapshot() -> dict:
            sent.append(revision)
            return OrgSnapshot(revision, {head: "qa"}, {"qa": (None, head)},
                               {"QA": "qa"}).to_json()
        return OrgRef(revision, snapshot)

    def assignee(ref: OrgRef) -> str | None:
        return pool.run(routed, None, {"kind": "start"}, NOW, ref).ready[0].assignee

    assert [assignee(org("r1", "wang.qa")) for _ in range(3)] == ["wang.qa"] * 3
    assert sent == ["r1"]
    pool.run(scripted("x = 1"), None, {"kind": "start"}, NOW, org("r1", "unused"))
    assert sent == ["r1"]  # a model that names no persons never asks
    assert assignee(org("r2", "he.qa")) == "he.qa"
    assert sent == ["r1", "r2"]
