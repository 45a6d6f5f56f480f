"""The `dutyflow` command line: operate a deployment from a shell or a script.

Every command prints errors on stderr and exits non-zero; `tasks --json` prints the
same task objects as the REST API.
"""
from __future__ import annotations

import getpass
import json
import logging
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import click
import yaml
from sqlalchemy import select

from engine.errors import Problem
from engine.people import OrgSnapshot
from services.errors import InvalidInput, ServiceError
from services.identity import audit
from services.identity.access import active_employee, actor_named, may_do
from services.identity.actor import Actor
from services.identity.credentials import set_password as store_password
from services.notify import delivery, follow_ups
from services.org import org_file
from services.org.directory import Directory
from services.pay import exports, kpi, payroll_runs
from services.persistence.backup import backup_sqlite
from services.persistence.file_store import FileStore
from services.persistence.models import Employee, Task
from services.persistence.schema import init_db
from services.persistence.statuses import TaskStatus
from services.persistence.unit_of_work import Store
from services.settings import Settings
from services.workflow import definitions, engine_steps, instances, worker
from services.workflow.views import instance_view, task_view
from web import notifications


class _Context:
    def __init__(self):
        self.settings = Settings.from_env()
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.settings.database_url)
        return self._store


pass_context = click.make_pass_decorator(_Context, ensure=True)


def _fail(message: str, details: list | dict | None = None) -> None:
    click.echo(f"error: {message}", err=True)
    for line in _detail_lines(details):
        click.echo(f"  {line}", err=True)
    sys.exit(1)


@contextmanager
def _reported():
    """The one place a service failure becomes the command's message and exit code: the
    message's first line (further lines repeat the details), then each detail."""
    try:
        yield
    except ServiceError as err:
        _fail(str(err).partition("\n")[0], getattr(err, "errors", None))


def _detail_lines(details) -> list[str]:
    if isinstance(details, dict):
        return [f"{field}: {' '.join(map(str, messages))}" for field, messages in details.items()]
    lines = []
    for item in details or []:
        lines.append(str(Problem(**item)) if isinstance(item, dict) and "message" in item else str(item))
    return lines


def _json_option(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        _fail(f"--data is not valid JSON: {err}")
    if not isinstance(value, dict):
        _fail("--data must be a JSON object")
    return value


@click.group()
def main() -> None:
    """DutyFlow: department duties as enforced BPMN processes."""


@main.command("init-db")
@pass_context
def init_db_command(ctx: _Context) -> None:
    """Create the schema, or migrate it to the newest version."""
    init_db(ctx.store)
    click.echo(f"database ready: {ctx.store.engine.url.render_as_string(hide_password=True)}")


@main.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def backup_command(ctx: _Context, file: Path) -> None:
    """Copy the live SQLite database to FILE, consistently (PostgreSQL: use pg_dump)."""
    with _reported():
        backup_sqlite(ctx.settings.database_url, file)
    click.echo(f"backed up to {file}")


@main.group("org")
def org_group() -> None:
    """The organisation: departments and employees."""


@org_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_context
def org_import(ctx: _Context, file: Path) -> None:
    """Import (or re-import) departments and employees from a YAML file."""
    with _reported():
        with ctx.store.writing() as uow:
            report = org_file.import_org(uow, file.read_text(encoding="utf-8"), str(file),
                                    _operator().username)
    click.echo(f"org imported: {report.created} created, {report.updated} updated, "
               f"{report.deactivated} deactivated (import {report.import_id})")


@main.group("users")
def users_group() -> None:
    """Accounts of employees."""


@users_group.command("set-password")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@pass_context
def set_password(ctx: _Context, username: str, password: str) -> None:
    """Set an employee's sign-in password (stored as an argon2 hash)."""
    with ctx.store.writing() as uow:
        employee = uow.session.scalars(select(Employee).where(Employee.username == username)).first()
        if employee is None:
            _fail(f"no employee {username!r}")
        store_password(uow, employee, password)  # and signs out every session and token
    click.echo(f"password set for {username}")


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as err:
        _fail(f"cannot read {file}: {err.strerror}")


_default_department_option = click.option(
    "--default-department", default=None, metavar="KEY",
    help="The department owning user tasks with neither lane, candidate group nor assignee.")


@main.command("lint")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_default_department_option
@click.option("--strict", is_flag=True,
              help="Also fail on warnings: tasks that deploy but do not run as drawn.")
@pass_context
def lint_command(ctx: _Context, files: tuple[Path, ...], default_department: str | None,
                 strict: bool) -> None:
    """Validate BPMN files without deploying them (uses the org when the database has one)."""
    directory, org = _directory_if_available(ctx)
    problems = [problem for file in files
                for problem in definitions.lint(_read(file), str(file), directory,
                                                default_department, strict, org)]
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        sys.exit(1)
    click.echo(f"{len(files)} file(s) OK")


def _directory_if_available(ctx: _Context) -> tuple[Directory | None, OrgSnapshot | None]:
    """The org's directory and its people, to check the names a diagram uses."""
    try:
        with ctx.store.reading() as uow:
            directory = Directory.load(uow)
            org = directory.snapshot(uow)
    except Exception:  # no database yet: lint still checks everything but the org's names
        return None, None
    return (directory, org) if directory.departments else (None, None)


@main.command("deploy")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "username", default=None, help="Recorded as the deployer.")
@_default_department_option
@pass_context
def deploy_command(ctx: _Context, files: tuple[Path, ...], username: str | None,
                   default_department: str | None) -> None:
    """Deploy BPMN files; each changed process becomes a new version."""
    failed = False
    for file in files:
        try:
            results = definitions.deploy(ctx.store, _read(file), str(file), username,
                                         default_department)
        except InvalidInput as err:
            failed = True
            for line in _detail_lines(err.errors):
                click.echo(line, err=True)
            continue
        for result in results:
            verb = "deployed" if result.created else "unchanged"
            click.echo(f"{verb} {result.definition.key} v{result.definition.version} ({file})")
            for warning in result.warnings:
                click.echo(f"warning: {warning}", err=True)
    if failed:
        sys.exit(1)


@main.command("start")
@click.argument("key")
@click.option("--data", default=None, help="Start data as a JSON object.")
@click.option("--business-key", default=None)
@click.option("--as", "username", default=None, help="Recorded as the starter.")
@pass_context
def start_command(ctx: _Context, key: str, data: str | None, business_key: str | None,
                  username: str | None) -> None:
    """Start an instance of the latest version of a process."""
    with _reported():
        with ctx.store.writing() as uow:
            row = instances.start_process(uow, key, _json_option(data), username, business_key)
        with ctx.store.reading() as uow:
            view = instance_view(uow, instances.get_instance(uow, row.id))
    click.echo(json.dumps(view, ensure_ascii=False, indent=2))


@main.command("tasks")
@click.option("--json", "as_json", is_flag=True, help="Print the REST API's task objects.")
@click.option("--as", "username", default=None, help="Only tasks this employee may do.")
@click.option("--status", type=click.Choice([status.value for status in TaskStatus]),
              default=TaskStatus.READY.value)
@pass_context
def tasks_command(ctx: _Context, as_json: bool, username: str | None, status: str) -> None:
    """List tasks (ready ones by default)."""
    with ctx.store.reading() as uow:
        query = select(Task).where(Task.status == status).order_by(Task.created_at, Task.id)
        rows = list(uow.session.scalars(query))
        if username:
            with _reported():
                employee = active_employee(uow, username)
            rows = [row for row in rows if may_do(employee.department_key, row)]
        views = [task_view(row) for row in rows]
    if as_json:
        click.echo(json.dumps(views, ensure_ascii=False, indent=2))
        return
    for view in views:
        due = view["due_at"] or "-"
        click.echo(f"{view['id']}  {view['process_key']}#{view['process_instance_id']}  "
                   f"{view['name']}  [{view['department'] or view['lane']}]  due {due}")


@main.command("complete")
@click.argument("task_id")
@click.option("--as", "username", required=True, help="The employee doing the duty.")
@click.option("--data", default=None, help="Form data as a JSON object.")
@pass_context
def complete_command(ctx: _Context, task_id: str, username: str, data: str | None) -> None:
    """Complete a task as an employee of its department."""
    with _reported():
        with ctx.store.writing() as uow:
            done = instances.complete_task(uow, actor_named(uow, username), task_id,
                                           _json_option(data))
        with ctx.store.reading() as uow:
            view = instance_view(uow, instances.get_instance(uow, done.instance_id))
    click.echo(json.dumps({"status": view["status"], "error": view["error"],
                           "tasks": view["tasks"]}, ensure_ascii=False, indent=2))


@main.command("worker")
@click.option("--once", is_flag=True, help="Fire and deliver what is due now, then exit.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between rounds.")
@click.option("--notify-interval", default=1.0, show_default=True,
              help="Seconds between notification delivery rounds.")
@click.option("--timers/--no-timers", default=True, show_default=True, help="Fire due timers.")
@click.option("--parent", type=int, default=None, hidden=True,
              help="Stop when this process is gone (dutyflow serve's delivery process).")
@pass_context
def worker_command(ctx: _Context, once: bool, interval: float, notify_interval: float,
                   timers: bool, parent: int | None) -> None:
    """Fire due timers (boundary and intermediate timer events) and deliver notifications."""
    if timers:
        click.echo(_sweep_files(ctx), err=True)
    if once:
        fired = worker.run_due_timers(ctx.store) if timers else 0
        followed = follow_ups.run_due(ctx.store) if timers else 0
        report = delivery.deliver_due_once(ctx.store, notifications.channels(ctx.settings),
                                           notifications.policy(ctx.settings))
        click.echo(f"fired {fired} timer(s); {followed} task(s) reminded or escalated; "
                   f"notifications: {report.sent} sent, "
                   f"{report.retrying} to retry, {report.failed} failed")
        return
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("services.notify.delivery").setLevel(logging.INFO)
    stop = threading.Event()
    if parent is not None:
        # Beside a server: background work yields the CPU to requests when both want it.
        os.nice(10)
        threading.Thread(target=_stop_with_parent, args=(parent, stop), daemon=True).start()
    loops = [threading.Thread(target=delivery.run_forever, name="dutyflow-notify", daemon=True,
                              args=(ctx.store, notifications.channels(ctx.settings),
                                    notifications.policy(ctx.settings), notify_interval, stop))]
    if timers:
        loops.append(threading.Thread(target=worker.run_forever, name="dutyflow-timers",
                                      daemon=True, args=(ctx.store, interval, stop)))
    for loop in loops:
        loop.start()
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        stop.set()
    for loop in loops:
        loop.join(timeout=30)


@main.group("files")
def files_group() -> None:
    """Attached files (DUTYFLOW_FILES_DIR)."""


@files_group.command("sweep")
@pass_context
def files_sweep_command(ctx: _Context) -> None:
    """Finish storing files whose completion committed just before its process died, and
    delete temp files of completions that failed (older than an hour)."""
    click.echo(_sweep_files(ctx))


def _sweep_files(ctx: _Context) -> str:
    files = FileStore(ctx.settings.files_dir, ctx.settings.files_in_database)
    with ctx.store.reading() as uow:
        done = files.sweep(uow)
    return f"files: {done['placed']} placed, {done['deleted']} deleted"


def _stop_with_parent(parent: int, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        if os.getppid() != parent:
            stop.set()


def _start_delivery_process(ctx: _Context) -> subprocess.Popen:
    """Notification delivery for `dutyflow serve`, in a process of its own: rendering,
    signing and sending take CPU that, in the server's process, would hold the GIL from
    request threads (bench/notifications.py measured 15-20 % on a completion's p50), and
    it runs at a lower CPU priority (nice 10). It stops when the server stops (or dies)."""
    return subprocess.Popen([sys.executable, "-m", "web.cli", "worker", "--no-timers",
                             "--parent", str(os.getpid())], env=os.environ.copy())


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Requests served at once.")
@click.option("--demo", is_flag=True, help="Load the demo org and diagrams first.")
@pass_context
def serve_command(ctx: _Context, host: str, port: int, threads: int, demo: bool) -> None:
    """Run the web service (and the timer worker in the background).

    Served by waitress, a production WSGI server: HTTP/1.1 keep-alive, a thread pool,
    and no debugger that could ever reach a user.
    """
    import waitress

    from web.access_log import AccessLog
    from web.app import create_app

    init_db(ctx.store)
    engine_steps.pool().warm()  # sandbox workers start while the demo loads
    if demo:
        from services.demo import load_demo
        click.echo(load_demo(ctx.store))
    stop = threading.Event()
    threading.Thread(target=worker.run_forever, args=(ctx.store, 5.0, stop), daemon=True).start()
    notifier = _start_delivery_process(ctx)
    app = create_app(ctx.settings, store=ctx.store)
    # Warnings and errors from everything, and our own INFO lines (access log, timers
    # fired): SpiffWorkflow logs every task state change at INFO, a dozen records per
    # completion that nobody reads and that cost more than the access line itself.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    for ours in ("dutyflow.access", "services.workflow.worker"):
        logging.getLogger(ours).setLevel(logging.INFO)
    click.echo(f"DutyFlow on http://{host}:{port}/ ({threads} threads)")
    try:
        waitress.serve(AccessLog(app), host=host, port=port, threads=threads,
                       ident="DutyFlow", _quiet=True)
    finally:
        stop.set()
        notifier.terminate()
        notifier.wait(timeout=30)


def _operator() -> Actor:
    """Whoever runs the CLI operates the deployment: HR and admin rights, audited by OS user."""
    return Actor(f"cli:{getpass.getuser()}", "", frozenset({"hr", "admin"}), frozenset())


@main.group("kpi")
def kpi_group() -> None:
    """KPI schemes."""


@kpi_group.command("set")
@click.argument("department")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_context
def kpi_set(ctx: _Context, department: str, file: Path) -> None:
    """Set a department's KPI scheme from a YAML or JSON file."""
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        _fail(f"{file} is not valid YAML/JSON: {err}")
    with _reported():
        with ctx.store.writing() as uow:
            row = kpi.set_scheme(uow, _operator(), department, document)
    click.echo(f"{department}: KPI scheme version {row.version}")


@main.group("payroll")
def payroll_group() -> None:
    """Payroll runs."""


@payroll_group.command("run")
@click.option("--period", required=True, help="YYYY-MM")
@pass_context
def payroll_run(ctx: _Context, period: str) -> None:
    """Calculate a draft payroll run for a period."""
    with click.progressbar(length=1, label=f"payroll {period}", file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        with _reported():
            with ctx.store.writing() as uow:
                run = payroll_runs.create_run(uow, _operator(), period, ctx.settings.timezone,
                                              progress)
                view = payroll_runs.run_view(uow, run)
    click.echo(json.dumps({key: view[key] for key in ("id", "period", "status", "totals")},
                          ensure_ascii=False, indent=2))


@payroll_group.command("finalize")
@click.argument("run_id", type=int)
@pass_context
def payroll_finalize(ctx: _Context, run_id: int) -> None:
    """Finalise a draft run; it can never change afterwards."""
    with _reported():
        with ctx.store.writing() as uow:
            run = payroll_runs.finalize(uow, _operator(), run_id)
    click.echo(f"payroll run {run.id} ({run.period}) is final")


@payroll_group.command("export")
@click.argument("run_id", type=int)
@click.option("--format", "file_format", type=click.Choice(["csv", "xlsx"]), default="csv")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@pass_context
def payroll_export(ctx: _Context, run_id: int, file_format: str, output: Path) -> None:
    """Write a run to a CSV or XLSX file."""
    with _reported():
        with ctx.store.reading() as uow:
            run = payroll_runs.get_run(uow, _operator(), run_id)
            body = exports.to_xlsx(uow, run) if file_format == "xlsx" else exports.to_csv(uow, run)
    output.write_bytes(body)
    click.echo(f"wrote {output}")


@main.command("audit")
@click.option("--entity", type=click.Choice(audit.ENTITIES))
@click.option("--key", help="department key, run id, username or import id")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@pass_context
def audit_trail(ctx: _Context, entity: str | None, key: str | None, limit: int) -> None:
    """Show the audit trail, newest first, one JSON object per line."""
    with ctx.store.reading() as uow:
        entries = audit.trail(uow, _operator(), entity, key, limit)
    for entry in entries:
        click.echo(json.dumps(entry, ensure_ascii=False))


if __name__ == "__main__":
    main()
