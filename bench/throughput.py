"""Throughput: 50 concurrent clients completing tasks over HTTP, for 1, 2 and 4 server processes.

Target: >= 300 completions/s with p95 <= 50 ms and no errors (issue 16), on PostgreSQL.

For each process count, a fresh database (a new PostgreSQL schema, dropped afterwards)
gets the demo org and diagrams and `clients x (per_client + warm-up)` started instances of
inbound_materials; then `dutyflow serve --processes P --threads T` serves it (waitress for
1, gunicorn for more) and `clients` client threads, spread over a few client processes so
the client's own GIL is not the ceiling, each POST /api/v1/tasks/{id}/complete for their own
tasks (distinct instances: no client waits for another's instance) over a keep-alive
connection, as fast as answers come. The warm-up completions (every client's first ones)
are not timed. Reported per process count: completions/s over the timed window (first
timed request sent to last answer), latency p50/p95/p99/max, and errors (non-200 answers
and failed connections). The completion events in the database are counted afterwards.

Where the CPU went, per completion over the timed window: the server (its processes,
their sandbox workers and its background process), PostgreSQL's processes, and the
clients (read from /proc on Linux). Both cores' worth divided by that total is what this
machine could do at best with every core busy: the ceiling of a target in completions/s.

The server and the clients share this machine's cores: on a 2-core machine the clients
take a part of the CPU that a deployment's servers would have.

Two ways to load the server:
- closed loop (default): every client sends its next request as soon as it has the answer,
  so the server runs flat out and completions/s is its ceiling. Latency then is queueing
  by construction (Little's law: 50 clients at 300/s wait 167 ms on average), so p95 <= 50
  ms with 50 clients at full speed would need over 1,000 completions/s.
- open loop (`--rate R`): the 50 clients together send R requests per second on a fixed
  schedule (client i sends at its slots i, i + 50, ...), whether or not earlier answers
  came; latency is counted from the scheduled time (a late send counts against the
  server). This answers "at R completions/s, what p95 do people see" - the latency target.

    .venv/bin/python bench/throughput.py [--backend postgresql|sqlite] [--processes 1 2 4]
        [--clients 50] [--per-client 12] [--threads 8] [--rate 300]
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import POSTGRES_URL, ROOT, load_org_and_diagrams, percentile, temporary_database  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from http_completion import DATA, KEY, NEXT_STEP, USER, free_port, start_instances  # noqa: E402
from services.persistence.models import TaskEvent  # noqa: E402
from services.persistence.unit_of_work import Store  # noqa: E402

WARMUP_PER_CLIENT = 2
CLIENT_PROCESSES = 5
TARGET_PER_SECOND, TARGET_P95 = 300.0, 0.050


def start_server(database_url: str, processes: int, threads: int,
                 log_path: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--port", str(port), "--processes",
         str(processes), "--threads", str(threads)],
        cwd=ROOT, env=dict(os.environ, DATABASE_URL=database_url), stdout=log,
        stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"dutyflow serve exited:\n{log_path.read_text()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                connection.close()
                time.sleep(2)  # every process's sandbox workers up, not only the first one's
                return process, port
        except OSError:
            time.sleep(0.3)
    process.terminate()
    sys.exit("dutyflow serve did not answer /healthz within 90 s")


def _one_client(port: int, token: str, task_ids: list[str], go: threading.Event,
                results: list, schedule: tuple[float, float] | None = None) -> None:
    """Completes its tasks in order; the first WARMUP_PER_CLIENT are not timed.
    `schedule` (open loop): (first slot after the start in s, seconds between its slots)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    body = json.dumps({"data": DATA}).encode()
    go.wait()
    started = time.perf_counter()
    for index, task_id in enumerate(task_ids):
        sent = time.perf_counter()
        if schedule is not None:
            first, every = schedule
            due = started + first + index * every
            if due > sent:
                time.sleep(due - sent)
            sent = due  # a send behind schedule is the server's delay too
        try:
            connection.request("POST", f"/api/v1/tasks/{task_id}/complete", body=body,
                               headers=headers)
            response = connection.getresponse()
            answer = response.read()
            ok = response.status == 200 and \
                json.loads(answer)["tasks"][0]["element_id"] == NEXT_STEP
        except (OSError, http.client.HTTPException, ValueError, KeyError, IndexError):
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            ok = False
        answered = time.perf_counter()
        if index >= WARMUP_PER_CLIENT:
            results.append((sent, answered, ok))
    connection.close()


def _client_process(port: int, token: str, batches: list[list[str]], start_at: float,
                    queue, schedules: list | None = None) -> None:
    """A few client threads in one process; they start together at `start_at` (wall clock)."""
    go, results = threading.Event(), []
    threads = [threading.Thread(target=_one_client,
                                args=(port, token, batch, go, results,
                                      schedules[i] if schedules else None))
               for i, batch in enumerate(batches)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, start_at - time.time()))
    cpu_from = time.process_time()  # the clients' own work, not their imports
    go.set()
    for thread in threads:
        thread.join()
    # perf_counter is per process: send wall-clock-comparable offsets instead
    offset = time.time() - time.perf_counter()
    queue.put(([(sent + offset, answered + offset, ok) for sent, answered, ok in results],
               time.process_time() - cpu_from))


def _cpu_seconds(pids: set[int]) -> float:
    """User + system CPU the processes `pids` have used so far (0 where /proc is missing)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command line) of every process, from /proc."""
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, UnicodeDecodeError):
                continue
            found.append((int(entry.name), parent, command))
    return found


def _process_groups(server_pid: int) -> dict[str, set[int]]:
    """The server's process tree, split into its request-serving processes, their sandbox
    workers and its background process (deliveries, timers); and PostgreSQL's processes."""
    table = _processes()
    tree, grew = {server_pid}, True
    while grew:
        more = {pid for pid, parent, _ in table if parent in tree} - tree
        tree |= more
        grew = bool(more)
    groups: dict[str, set[int]] = {"web": set(), "sandbox": set(), "background": set(),
                                   "database": set()}
    for pid, _, command in table:
        if pid in tree:
            group = "sandbox" if "sandbox_worker" in command else \
                "background" if " worker " in command else "web"
            groups[group].add(pid)
        elif command.startswith("postgres"):
            groups["database"].add(pid)
    return groups


def sign_in(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("POST", "/api/v1/auth/token",
                       body=json.dumps({"username": USER, "password": "demo"}),
                       headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    body = response.read()
    assert response.status == 200, body
    return json.loads(body)["token"]


def measure(backend: str, postgres_url: str, processes: int, threads: int, clients: int,
            per_client: int, rate: float | None = None) -> dict:
    each = per_client + WARMUP_PER_CLIENT
    with temporary_database(backend, postgres_url) as url, \
            tempfile.TemporaryDirectory(prefix="dutyflow-bench-log-") as logs:
        store = Store(url)
        server = None
        try:
            load_org_and_diagrams(store)
            task_ids = start_instances(store, clients * each)
            server, port = start_server(url, processes, threads, Path(logs) / "serve.log")
            token = sign_in(port)
            batches = [task_ids[i * each:(i + 1) * each] for i in range(clients)]
            context = multiprocessing.get_context("spawn")
            queue = context.Queue()
            start_at = time.time() + 3.0
            # Open loop: client c's k-th request in slot k * clients + c, one slot per 1/rate s.
            schedules = [(c / rate, clients / rate) for c in range(clients)] if rate else None
            workers = [context.Process(target=_client_process,
                                       args=(port, token, batches[i::CLIENT_PROCESSES],
                                             start_at, queue,
                                             schedules[i::CLIENT_PROCESSES] if rate else None))
                       for i in range(min(CLIENT_PROCESSES, clients))]
            for worker in workers:
                worker.start()
            time.sleep(max(0.0, start_at - time.time()))
            groups = _process_groups(server.pid)
            cpu_before = {name: _cpu_seconds(pids) for name, pids in groups.items()}
            reports = [queue.get(timeout=900) for _ in workers]
            # Sandbox workers and database connections started since count in full.
            cpu_used = {name: _cpu_seconds(pids | groups[name]) - cpu_before[name]
                        for name, pids in _process_groups(server.pid).items()}
            results = [row for rows, _ in reports for row in rows]
            cpu_used["clients"] = sum(cpu for _, cpu in reports)
            for worker in workers:
                worker.join()
            with store.reading() as uow:
                events = uow.session.scalar(select(func.count()).select_from(TaskEvent))
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=60)
            store.dispose()
    latencies = [answered - sent for sent, answered, ok in results if ok]
    window = max(answered for _, answered, _ in results) - min(sent for sent, _, _ in results)
    return {"processes": processes, "completions": len(latencies),
            "errors": sum(not ok for *_, ok in results), "per_second": len(latencies) / window,
            "p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99), "max": max(latencies), "events": events,
            "expected_events": clients * each,
            "cpu_ms": {name: seconds * 1000 / len(results) for name, seconds in cpu_used.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--per-client", type=int, default=12,
                        help="timed completions per client (after 2 warm-up ones)")
    parser.add_argument("--threads", type=int, default=8, help="request threads per process")
    parser.add_argument("--rate", type=float, default=None,
                        help="open loop: requests/s all clients send together on a schedule "
                             "(default: closed loop, as fast as answers come)")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args()
    print(f"backend: {args.backend}; {args.clients} clients x {args.per_client} timed "
          f"completions ({KEY}), each on its own instance; {args.threads} threads per "
          f"server process; {os.cpu_count()} CPU cores shared by server and clients; "
          + (f"open loop at {args.rate:g} requests/s" if args.rate else "closed loop"))
    print("load average (1, 5, 15 min) before: %.2f %.2f %.2f" % os.getloadavg())
    print(f"{'processes':>9} {'done/s':>8} {'x first':>7} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8} {'errors':>6}  target (>= {TARGET_PER_SECOND:.0f}/s, "
          f"p95 <= {TARGET_P95 * 1000:.0f} ms, no errors)")
    baseline = None
    for processes in args.processes:
        row = measure(args.backend, args.postgres_url, processes, args.threads, args.clients,
                      args.per_client, args.rate)
        baseline = baseline or row["per_second"]  # the first process count's, this run
        met = row["per_second"] >= TARGET_PER_SECOND and row["p95"] <= TARGET_P95 \
            and not row["errors"]
        print(f"{processes:>9} {row['per_second']:>8.1f} {row['per_second'] / baseline:>7.2f} "
              f"{row['p50'] * 1000:>8.1f} "
              f"{row['p95'] * 1000:>8.1f} {row['p99'] * 1000:>8.1f} {row['max'] * 1000:>8.1f} "
              f"{row['errors']:>6}  {'MET' if met else 'NOT MET'}"
              + ("" if row["events"] == row["expected_events"] else
                 f"  ({row['events']} completion events in the database, "
                 f"expected {row['expected_events']})"), flush=True)
        cpu = row["cpu_ms"]
        total = sum(cpu.values())
        print(f"{'':>9} CPU per completion: "
              + ", ".join(f"{name} {ms:.2f}" for name, ms in cpu.items())
              + f" = {total:.2f} ms; every core busy: at most "
              f"{(os.cpu_count() or 1) * 1000 / total:.0f}/s "
              f"({(os.cpu_count() or 1) * 1000 / (total - cpu['clients']):.0f}/s with the "
              f"clients elsewhere)", flush=True)
    print("load average (1, 5, 15 min) after: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
