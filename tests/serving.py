"""Starting real `dutyflow serve` processes in tests: a free port, and waiting until one answers."""
from __future__ import annotations

import socket
from pathlib import Path
import subprocess
import time
import urllib.request

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(process: subprocess.Popen, base: str, seconds: float = 60) -> None:
    """Poll /healthz until the server answers; fail with its output if it exits or never does."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"server did not start:\n{process.communicate()[0]}")
            time.sleep(0.2)


def children_of(pid: int) -> list[tuple[int, list[bytes]]]:
    """(pid, command line) of the live child processes of `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append((int(entry.name), command))
    return found
