"""`dutyflow serve --processes N` (N > 1): gunicorn, a pre-fork server, on Linux.

The master process forks N workers and never serves a request itself; each worker builds
its own app (the factory runs after the fork: its own database connections, its own
sandbox pool, its own metrics) and serves `threads` requests at once. SIGTERM or SIGINT
stops it gracefully: workers finish the requests they hold (at most `GRACEFUL_SECONDS`).
Background work (timers, deliveries) is not started here: `dutyflow serve` runs it once
beside the master, or Celery workers do it (web/jobs.py).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from gunicorn.app.base import BaseApplication

GRACEFUL_SECONDS = 30


def clear_multiprocess_dir() -> None:
    """prometheus_client's files of a previous run would be summed into this one's."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink(missing_ok=True)


def _post_fork(_server, _worker) -> None:
    # The worker's own sandbox processes start while it finishes booting, not on the
    # first request (engine_steps drops any pool inherited through the fork).
    from services.workflow import engine_steps
    engine_steps.pool().warm()


def _child_exit(_server, worker) -> None:
    """A worker that ended: its live gauges leave /metrics (its counters stay summed)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)


class PreforkServer(BaseApplication):
    def __init__(self, app_factory: Callable[[], object], host: str, port: int,
                 processes: int, threads: int):
        self.app_factory = app_factory
        self.options = {
            "bind": f"{host}:{port}", "workers": processes, "threads": threads,
            "worker_class": "gthread", "preload_app": False,
            "graceful_timeout": GRACEFUL_SECONDS, "timeout": 60, "keepalive": 5,
            "accesslog": None, "errorlog": "-", "loglevel": "warning",
            "proc_name": "dutyflow", "post_fork": _post_fork, "child_exit": _child_exit,
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.app_factory()


def serve(app_factory: Callable[[], object], host: str, port: int, processes: int,
          threads: int) -> None:
    """Run until stopped by a signal."""
    clear_multiprocess_dir()
    PreforkServer(app_factory, host, port, processes, threads).run()
