"""A pool of long-lived sandbox worker processes that run engine steps for the service.

Why processes: see the threat model in engine/sandbox_worker.py. The pool hands each step
to an idle worker and waits for its answer at most `step_seconds`; a worker that is late
is killed and replaced, one that dies (CPU or memory limit) is replaced, one whose memory
grew past `recycle_bytes` is retired after answering. The step that met such a fate fails
with `StepAborted`; the service records it as an incident on that instance. No step ever
runs diagram code in the service's own process.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

from .errors import EngineError
from .sandbox_worker import FRAME_HEADER, MAX_FRAME_BYTES, frame
from .steps import StepOutcome, StepRefused

_ROOT = str(Path(__file__).resolve().parent.parent)
_BOOT = "import sys; sys.path.insert(0, sys.argv[2]); from engine.sandbox_worker import main; main()"
_MIB = 2**20


@dataclass(frozen=True)
class SandboxLimits:
    """What one worker and one step may use. Defaults suit the demo and a small company."""

    workers: int = 2
    step_seconds: float = 2.0          # wall clock per step, then the worker is killed
    cpu_seconds: float = 3.0           # CPU time per step (RLIMIT_CPU)
    memory_bytes: int = 1024 * _MIB    # address space of a worker (RLIMIT_AS)
    recycle_bytes: int = 384 * _MIB    # resident memory after which a worker is replaced
    expression_seconds: float = 1.0    # one expression or script (the in-process tracer)
    max_engine_passes: int = 500       # gateway/script passes per step before it is a loop
    model_load_seconds: float = 20.0   # extra time when a worker first compiles a diagram


class StepAborted(EngineError):
    """The worker running a step was stopped (time, CPU or memory) or died; nothing of the
    step happened."""


class ModelSource(NamedTuple):
    """What a model is compiled from: the arguments of engine.loader.load_processes."""

    xml: str
    filename: str
    default_owner: str | None = None
    dmn: tuple[tuple[str, str], ...] = ()  # (file name, text): DMN and .form files deployed with it
    # The latest deployed DMN and .form files holding the decisions it calls and the forms
    # its user tasks name that its deployment lacks (engine.loader's
    # latest_decision_files); part of the ModelRef's checksum.
    latest_dmn: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ModelRef:
    """Which deployed model a step runs; `source()` gives its ModelSource when a worker
    has not compiled it yet (read lazily: the text is large and rarely needed)."""

    checksum: str
    key: str
    source: Callable[[], ModelSource]


@dataclass(frozen=True)
class OrgRef:
    """The org revision a step runs under; `source()` gives the OrgSnapshot as JSON when
    the worker does not hold that revision yet (read lazily, like a model's source)."""

    revision: str | None
    source: Callable[[], dict[str, Any]]


class _Process:
    """One worker process and its pipes."""

    def __init__(self, limits: SandboxLimits):
        config = {key: value for key, value in asdict(limits).items()
                  if key in ("cpu_seconds", "memory_bytes", "expression_seconds",
                             "max_engine_passes")}
        self.popen = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, json.dumps(config), _ROOT],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            close_fds=True, env={"PATH": os.defpath, "LANG": "C.UTF-8"}, cwd="/",
            start_new_session=True)
        self.stdin, self.stdout = self.popen.stdin, self.popen.stdout

    def send(self, payload: bytes) -> None:
        self.stdin.write(frame(payload))
        self.stdin.flush()

    def receive(self, deadline: float) -> bytes:
        """One frame; TimeoutError past `deadline`, EOFError if the process ended."""
        size = self._read(FRAME_HEADER, deadline)
        length = int.from_bytes(size, "big")
        if length > MAX_FRAME_BYTES:
            raise EOFError(f"the worker sent a frame of {length} bytes")
        return self._read(length, deadline)

    def _read(self, count: int, deadline: float) -> bytes:
        chunks, missing = [], count
        fd = self.stdout.fileno()
        while missing:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
            chunk = os.read(fd, min(missing, 1 << 20))
            if not chunk:
                raise EOFError("the worker ended")
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)

    def why_ended(self) -> str:
        code = self.popen.wait()
        if code < 0:
            name = signal.Signals(-code).name
            reason = {"SIGXCPU": "it used more CPU time than a step may",
                      "SIGKILL": "it was killed (out of memory?)"}.get(name, f"signal {name}")
            return f"the sandbox worker ended: {reason}"
        return f"the sandbox worker ended with exit code {code}"

    def kill(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait()
        self.stdin.close()
        self.stdout.close()

    def close(self) -> None:
        """Let an idle worker end by itself (it reads the end of its input)."""
        try:
            self.stdin.close()
        except OSError:
            pass
        try:
            self.popen.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self.stdout.close()


class SandboxPool:
    """Runs engine steps in worker processes; safe to share between threads."""

    def __init__(self, limits: SandboxLimits | None = None):
        self.limits = limits or SandboxLimits()
        self._idle: list[_Process] = []
        self._live = 0
        self._condition = threading.Condition()
        self._closed = False

    def run(self, model: ModelRef, state: str | None, action: dict[str, Any],
            now: dt.datetime, org: OrgRef | None = None) -> StepOutcome:
        """One step. Raises StepRefused (nothing changed, the caller's fault) or
        StepAborted (the worker was stopped)."""
        header = {"checksum": model.checksum, "key": model.key, "action": action,
                  "now": now.isoformat(), "org_revision": org.revision if org else None}
        worker = self._checkout()
        if org is not None and org.revision is None:
            # No revision to cache it under (a database without its org revision row):
            # the worker is sent the org afresh before the step.
            self._ask(worker, {"org": org.source()}, None, self.limits.step_seconds)
        answer, new_state = self._ask(worker, header, state, self.limits.step_seconds)
        if answer.get("need_model"):
            # Compiling gets its own, longer deadline; the step after it the usual one.
            source = model.source()
            self._ask(worker, {"checksum": model.checksum, "key": model.key,
                               **source._asdict()}, None, self.limits.model_load_seconds)
            answer, new_state = self._ask(worker, header, state, self.limits.step_seconds)
        if answer.get("need_org"):
            if org is None:
                self._checkin(worker)
                raise StepAborted("the process routes duties to persons but the step was "
                                  "given no org")
            self._ask(worker, {"org": org.source()}, None, self.limits.step_seconds)
            answer, new_state = self._ask(worker, header, state, self.limits.step_seconds)
        if answer.get("outcome", {}).get("rss", 0) > self.limits.recycle_bytes:
            self._discard(worker, gently=True)
        else:
            self._checkin(worker)
        if "refused" in answer:
            refused = answer["refused"]
            raise StepRefused(refused["kind"], refused["message"], refused["errors"])
        return StepOutcome.from_json(answer["outcome"], new_state.decode("utf-8"))

    def _ask(self, worker: _Process, header: dict[str, Any], state: str | None,
             seconds: float) -> tuple[dict[str, Any], bytes]:
        """One request to a checked-out worker; on any failure the worker is discarded
        and StepAborted raised."""
        head = json.dumps(header, separators=(",", ":")).encode()
        payload = len(head).to_bytes(FRAME_HEADER, "big") + head + \
            (state.encode("utf-8") if state else b"")
        try:
            worker.send(payload)
            reply = worker.receive(time.monotonic() + seconds)
        except TimeoutError:
            self._discard(worker)
            raise StepAborted(f"the step was stopped after {seconds:g} s "
                              "(an expression or script that does not finish)") from None
        except (EOFError, OSError):
            reason = worker.why_ended()
            self._discard(worker)
            raise StepAborted(reason) from None
        size = int.from_bytes(reply[:FRAME_HEADER], "big")
        answer = json.loads(reply[FRAME_HEADER:FRAME_HEADER + size])
        if "failed" in answer:
            self._discard(worker)
            raise StepAborted(f"the step failed in the sandbox worker: {answer['failed']}")
        return answer, reply[FRAME_HEADER + size:]

    def _checkout(self) -> _Process:
        with self._condition:
            while True:
                if self._closed:
                    raise StepAborted("the sandbox pool is shut down")
                if self._idle:
                    return self._idle.pop()
                if self._live < self.limits.workers:
                    self._live += 1
                    break
                self._condition.wait()
        try:
            return self._start()
        except BaseException:
            with self._condition:
                self._live -= 1
                self._condition.notify()
            raise

    def _start(self) -> _Process:
        worker = _Process(self.limits)
        try:
            worker.receive(time.monotonic() + 60)  # the "ready" frame, after its imports
        except (TimeoutError, EOFError, OSError):
            worker.kill()
            raise StepAborted("a sandbox worker could not be started") from None
        return worker

    def _checkin(self, worker: _Process) -> None:
        with self._condition:
            if self._closed:
                worker.close()
                self._live -= 1
                return
            self._idle.append(worker)
            self._condition.notify()

    def _discard(self, worker: _Process, gently: bool = False) -> None:
        """Drop a worker; its replacement starts in the background, so the next step does
        not pay for the start."""
        worker.close() if gently else worker.kill()
        with self._condition:
            self._live -= 1
            self._condition.notify()
        self.warm(1)

    def warm(self, count: int | None = None) -> None:
        """Start up to `count` (default: all) workers in the background."""
        def start_one() -> None:
            with self._condition:
                if self._closed or self._live >= self.limits.workers:
                    return
                self._live += 1
            try:
                worker = self._start()
            except StepAborted:
                with self._condition:
                    self._live -= 1
                    self._condition.notify()
                return
            self._checkin(worker)

        for _ in range(self.limits.workers if count is None else count):
            threading.Thread(target=start_one, name="sandbox-warm", daemon=True).start()

    def worker_pids(self) -> list[int]:
        with self._condition:
            return [worker.popen.pid for worker in self._idle]

    def close(self) -> None:
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._live -= len(idle)
            self._condition.notify_all()
        for worker in idle:
            worker.close()
