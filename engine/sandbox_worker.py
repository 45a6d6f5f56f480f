"""The sandbox worker process: runs engine steps for the service, one at a time.

Threat model: a diagram's expressions and scripts are untrusted. The in-process sandbox
(engine/sandbox.py) bounds what they can reach and most of what they can cost, but some
C calls hold the GIL for minutes (a set of hash-colliding integers), an exception can
land in library code at the wrong moment, and memory a script took is not given back.
So the service never runs diagram code itself: this process does, started by
`engine.sandbox_pool` with no inherited descriptors, no environment (no database URL, no
secret key), its working directory at `/`, and OS limits that hold whatever the code does:

- an absolute address-space limit (RLIMIT_AS): an allocation past it fails here;
- a CPU-time limit per step (RLIMIT_CPU, re-armed before each step): SIGXCPU ends us;
- no file writes (RLIMIT_FSIZE 0), no core dumps, few descriptors;
- the pool's wall-clock deadline, after which it kills and replaces this process.

The protocol is length-prefixed frames on stdin/stdout: a JSON header and the instance
state (JSON text, passed through untouched by the service). Answers are JSON only: the
service never unpickles or evaluates anything that comes from here.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import resource
import sys
from collections import OrderedDict
from typing import Any, BinaryIO

MODEL_CACHE_SIZE = 64
FRAME_HEADER = 4
MAX_FRAME_BYTES = 64 * 2**20


def read_frame(stream: BinaryIO) -> bytes | None:
    """One frame, or None at the end of the stream."""
    size = stream.read(FRAME_HEADER)
    if len(size) < FRAME_HEADER:
        return None
    length = int.from_bytes(size, "big")
    if length > MAX_FRAME_BYTES:
        raise ValueError(f"frame of {length} bytes exceeds {MAX_FRAME_BYTES}")
    payload = stream.read(length)
    if len(payload) < length:
        return None
    return payload


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(FRAME_HEADER, "big") + payload


class _Worker:
    def __init__(self, config: dict[str, Any]):
        # Imported here, after the limits' configuration is known and before any are set:
        # a failed import under RLIMIT_AS would look like a diagram's fault.
        from . import runtime, sandbox
        from .loader import load_processes
        from .people import OrgSnapshot
        from .steps import StepRefused, run_step
        self._load_processes, self._run_step, self._refused = load_processes, run_step, StepRefused
        self._org_from_json = OrgSnapshot.from_json
        runtime.MAX_ENGINE_PASSES = config["max_engine_passes"]
        sandbox.TIME_LIMIT_SECONDS = config["expression_seconds"]
        self.cpu_seconds = config["cpu_seconds"]
        self.models: OrderedDict[tuple[str, str], Any] = OrderedDict()
        # The org as of the last revision the service sent (engine.people.OrgSnapshot):
        # asked for only by steps of models that route duties to persons, and only when
        # the step's org revision differs.
        self.org: Any = None

    def handle(self, header: dict[str, Any], state: bytes) -> tuple[dict[str, Any], bytes]:
        if "org" in header:
            self.org = self._org_from_json(header["org"])
            return {"loaded": True}, b""
        cache_key = (header["checksum"], header["key"])
        if "xml" in header:
            self._load_model(header, cache_key)
            return {"loaded": True}, b""
        model = self.models.get(cache_key)
        if model is None:
            return {"need_model": True}, b""
        self.models.move_to_end(cache_key)
        org = None
        if model.routes_to_people:
            revision = header.get("org_revision")
            if self.org is None or self.org.revision != revision:
                return {"need_org": True}, b""
            org = self.org
        _arm_cpu_limit(self.cpu_seconds)
        try:
            outcome = self._run_step(model, json.loads(state) if state else None,
                                     header["action"], dt.datetime.fromisoformat(header["now"]),
                                     org)
        except self._refused as refused:
            return {"refused": refused.to_json()}, b""
        answer = outcome.to_json()
        answer["rss"] = _resident_bytes()
        return {"outcome": answer}, outcome.state_json.encode("utf-8")

    def _load_model(self, header: dict[str, Any], cache_key: tuple[str, str]) -> None:
        models = self._load_processes(header["xml"].encode("utf-8"), header["filename"],
                                      default_owner=header["default_owner"],
                                      decision_files=[(name, text.encode("utf-8")) for name, text
                                                      in header.get("dmn", ())],
                                      latest_decision_files=[
                                          (name, text.encode("utf-8"))
                                          for name, text in header.get("latest_dmn", ())])
        model = next(found for found in models if found.key == header["key"])
        self.models[cache_key] = model
        while len(self.models) > MODEL_CACHE_SIZE:
            self.models.popitem(last=False)


def _arm_cpu_limit(seconds: float) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(used + seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY
                                             else min(soft, hard), hard))


def _resident_bytes() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _set_limits(memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))


def main() -> None:
    config = json.loads(sys.argv[1])
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames may reach the service's pipe
    os.chdir("/")
    worker = _Worker(config)
    _set_limits(config["memory_bytes"])
    stdout.write(frame(b'{"ready":true}'))
    stdout.flush()
    while True:
        request = read_frame(stdin)
        if request is None:
            return
        header_size = int.from_bytes(request[:FRAME_HEADER], "big")
        header = json.loads(request[FRAME_HEADER:FRAME_HEADER + header_size])
        try:
            answer, state = worker.handle(header, request[FRAME_HEADER + header_size:])
        except MemoryError:
            answer, state = {"failed": "the step ran out of memory"}, b""
        except Exception as err:  # noqa: BLE001 - reported to the service, then this process ends
            answer, state = {"failed": f"{type(err).__name__}: {err}"[:500]}, b""
        head = json.dumps(answer, separators=(",", ":")).encode()
        stdout.write(frame(len(head).to_bytes(FRAME_HEADER, "big") + head + state))
        stdout.flush()
        if "failed" in answer:
            return  # whatever failed may have left this interpreter in a bad state


if __name__ == "__main__":
    main()
