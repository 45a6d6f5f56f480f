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
from payroll.periods import Period
from services.errors import InvalidInput, ServiceError
from services.identity import audit
from services.identity.access import active_employee, actor_named, may_do
from services.identity.actor import Actor
from services.identity.credentials import set_password as store_password
from services.notify import delivery, follow_ups
from services.org import org_file, org_sheets
from services.org.directory import Directory
from services.pay import exports, kpi, payroll_runs, reorganisation
from services.persistence import logical_backup
from services.persistence.backup import backup_sqlite
from services.persistence.file_store import FileStore
from services.persistence.models import Employee, Task, utcnow
from services.persistence.schema import init_db
from services.persistence.statuses import TaskStatus
from services.persistence.unit_of_work import Store
from services.settings import Settings
from services.workflow import archive, definitions, engine_steps, instances, migration, worker
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
        return [line for field, messages in details.items() for line in (
            [f"{field}.{inner}" for inner in _detail_lines(messages)]
            if isinstance(messages, dict) else [f"{field}: {' '.join(map(str, messages))}"])]
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
@click.option("--sqlite-copy", is_flag=True,
              help="Copy the SQLite database file itself instead (online backup API).")
@pass_context
def backup_command(ctx: _Context, file: Path, sqlite_copy: bool) -> None:
    """Write every table, from one consistent snapshot, to FILE while the service runs.

    The file restores into an empty SQLite or PostgreSQL database (`dutyflow restore`).
    """
    with _reported():
        if sqlite_copy:
            backup_sqlite(ctx.settings.database_url, file)
            click.echo(f"copied the SQLite database to {file}")
            return
        summary = logical_backup.write_backup(ctx.store, file)
    click.echo(f"backed up {summary.total} rows of {len(summary.rows)} tables "
               f"(schema {summary.schema_revision}) to {file}")


@main.command("archive")
@click.option("--before", "before", required=True, metavar="YYYY-MM",
              help="Archive instances finished before this month.")
@click.option("--dry-run", is_flag=True, help="Only count what would be archived.")
@pass_context
def archive_command(ctx: _Context, before: str, dry_run: bool) -> None:
    """Move finished instances whose pay periods are final out of the live tables.

    Their completion events and actions stay, so payslips and their evidence read as before.
    """
    with _reported():
        outcome = archive.archive(ctx.store, _operator(), before, ctx.settings.timezone,
                                  dry_run=dry_run)
    verb = "would archive" if dry_run else "archived"
    click.echo(f"{verb} {outcome.archived} instance(s) finished before {before}")
    for reason, count in sorted(outcome.skipped.items()):
        click.echo(f"kept {count}: {reason}")


@main.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_context
def restore_command(ctx: _Context, file: Path) -> None:
    """Load a `dutyflow backup` FILE into the (empty) database, then migrate it."""
    with _reported():
        summary = logical_backup.restore_backup(ctx.store, file)
    click.echo(f"restored {summary.total} rows of {len(summary.rows)} tables "
               f"(schema {summary.schema_revision}) into "
               f"{ctx.store.engine.url.render_as_string(hide_password=True)}")


@main.group("org")
def org_group() -> None:
    """The organisation: departments and employees."""


@org_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True,
              help="Show what the import would change (owners of steps, open tasks that move, "
                   "people who change department) and change nothing.")
@pass_context
def org_import(ctx: _Context, file: Path, dry_run: bool) -> None:
    """Import (or re-import) departments and employees from a YAML, xlsx or CSV file.

    Refused when a lane or candidate group of a deployed step would route to no department;
    open tasks move to their new departments' inboxes."""
    data = _read(file)
    with _reported():
        if dry_run:
            with ctx.store.reading() as uow:
                found = reorganisation.preview(uow, _operator(), data, str(file), Period.of(
                    utcnow(), ctx.settings.timezone))
            for line in _preview_lines(found):
                click.echo(line)
            if found["refused"]:
                sys.exit(1)
            return
        with ctx.store.writing() as uow:
            done = reorganisation.import_file(uow, _operator(), data, str(file))
    report = done.report
    click.echo(f"org imported: {report.created} created, {report.updated} updated, "
               f"{report.deactivated} deactivated, {done.moved_tasks} open task(s) moved "
               f"(import {report.import_id})")


def _preview_lines(found: dict) -> list[str]:
    def name(department: dict | None) -> str:
        return f"{department['key']} ({department['name']})" if department else "no department"

    lines = [f"dry run of {found['file']}: nothing was changed"]
    for section in ("departments", "employees"):
        for change in ("created", "deactivated"):
            if found[section][change]:
                lines.append(f"{section} {change}: {', '.join(found[section][change])}")
    moving = [step for step in found["steps"] if step["moves"]]
    lines.append(f"steps whose owner changes: {len(moving)} of {len(found['steps'])}")
    lines += [f"  {step['process_key']} v{step['version']} {step['element_id']} ({step['name']}): "
              f"{name(step['before']['department'])} -> {name(step['after']['department'])}"
              for step in moving]
    lines.append(f"open tasks that would move: {len(found['moved_tasks'])}")
    lines += [f"  {task['id']} {task['name']} ({task['process_key']} #{task['process_instance_id']}): "
              f"{name(task['before']['department'])} -> {name(task['after']['department'])}"
              + (f", {task['assignee']} unassigned" if task["unassigned"] else "")
              for task in found["moved_tasks"]]
    lines.append(f"people who change department: {len(found['people'])}")
    for person in found["people"]:
        scheme = person["scheme"]
        lines.append(f"  {person['username']} ({person['name']}): {name(person['before'])} -> "
                     f"{name(person['after'])}; scored from {found['period']} by "
                     + (f"{scheme['department']}'s KPI scheme v{scheme['version']}" if scheme
                        else "no KPI scheme"))
    if found["refused"]:
        lines.append("refused: these lanes or candidate groups would route to no department:")
        lines += [f"  {orphan['process_key']} v{orphan['version']} {orphan['element_id']} "
                  f"({orphan['name']}): {orphan['owner']!r}" for orphan in found["orphans"]]
    return lines


@org_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def org_export(ctx: _Context, file: Path) -> None:
    """Write the current org to FILE (.yaml, .xlsx or .csv), ready to edit and import."""
    with _reported():
        with ctx.store.reading() as uow:
            document = org_file.export_document(uow)
        file.write_bytes(org_sheets.render(document, org_sheets.format_of(file.name)))
    click.echo(f"org exported: {len(document['departments'])} departments, "
               f"{len(document['employees'])} employees to {file}")


@org_group.command("template")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def org_template(file: Path) -> None:
    """Write an empty org file (.xlsx, .csv or .yaml): the columns, no rows."""
    file.write_bytes(org_sheets.template(org_sheets.format_of(file.name)))
    click.echo(f"template written to {file}")


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
    """Validate BPMN files, and the DMN files deployed with them, without deploying them
    (uses the org when the database has one)."""
    directory, org = _directory_if_available(ctx)
    bpmn, dmn = definitions.split_files([(str(file), _read(file)) for file in files])
    known = _known_processes(ctx, bpmn) if strict else set()
    problems = [problem for name, source in bpmn
                for problem in definitions.lint(source, name, directory, default_department,
                                                strict, org, dmn, known)]
    if not bpmn:
        problems = definitions.lint_decisions(dmn)
    for problem in dict.fromkeys(problems):
        click.echo(str(problem), err=True)
    if problems:
        sys.exit(1)
    click.echo(f"{len(files)} file(s) OK")


def _known_processes(ctx: _Context, bpmn) -> set[str]:
    """The processes a call activity may call without a warning: those of the files linted
    together, and those deployed (when the database has any)."""
    linted = definitions.process_keys(bpmn)
    try:
        with ctx.store.reading() as uow:
            deployed = {definition.key for definition in definitions.list_latest(uow)}
    except Exception:  # no database yet: only the files linted together are known
        deployed = set()
    return linted | deployed


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
    """Deploy BPMN files, with the DMN files their business rule tasks call, as one
    deployment; each changed process becomes a new version."""
    try:
        results = definitions.deploy_files(ctx.store, [(str(file), _read(file)) for file in files],
                                           username, default_department)
    except InvalidInput as err:
        for line in _detail_lines(err.errors):
            click.echo(line, err=True)
        sys.exit(1)
    for result in results:
        verb = "deployed" if result.created else "unchanged"
        click.echo(f"{verb} {result.definition.key} v{result.definition.version} "
                   f"({result.definition.filename})")
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
    for decision in results[0].decisions if results else ():
        click.echo(f"decision {decision.id} ({decision.file})")
    for result in results:
        for form in result.forms:
            click.echo(f"form {form.file} shown by {', '.join(form.elements)}")


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
@click.option("--beat", is_flag=True,
              help="With a broker: also schedule the jobs (in ONE worker of the deployment).")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64),
              help="With a broker: jobs this worker runs at once.")
@pass_context
def worker_command(ctx: _Context, once: bool, interval: float, notify_interval: float,
                   timers: bool, parent: int | None, beat: bool, concurrency: int) -> None:
    """Fire due timers (boundary and intermediate timer events) and deliver notifications.

    With DUTYFLOW_BROKER_URL set, a Celery worker runs them as jobs (web/jobs.py); without,
    they run in this process's own loops. `--once` runs each round here, then exits."""
    if timers:
        click.echo(_sweep_files(ctx), err=True)
    if ctx.settings.broker_url and not once and parent is None:
        from web.jobs import run_worker
        if not timers:
            _fail("--no-timers has no meaning for a Celery worker: it runs every job")
        run_worker(ctx.settings, concurrency, beat, Path("instance"))
        return
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


def _start_background_process(timers: bool) -> subprocess.Popen:
    """Background work for `dutyflow serve`, in a process of its own: notification
    delivery (rendering, signing and sending take CPU that, in the server's process, would
    hold the GIL from request threads: bench/notifications.py measured 15-20 % on a
    completion's p50), and with `timers` the timer worker too (under gunicorn: once for
    all the server's processes). It runs at a lower CPU priority (nice 10) and stops when
    the server stops (or dies)."""
    return subprocess.Popen([sys.executable, "-m", "web.cli", "worker",
                             "--timers" if timers else "--no-timers",
                             "--parent", str(os.getpid())], env=os.environ.copy())


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Requests served at once (per process).")
@click.option("--processes", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes; more than 1 runs gunicorn (pre-fork, Linux).")
@click.option("--demo", is_flag=True, help="Load the demo org and diagrams first.")
@pass_context
def serve_command(ctx: _Context, host: str, port: int, threads: int, processes: int,
                  demo: bool) -> None:
    """Run the web service (and, without a broker, the timer worker in the background).

    One process: waitress, a production WSGI server (HTTP/1.1 keep-alive, a thread pool,
    no debugger that could ever reach a user). Several: gunicorn's pre-fork server, each
    process with its own app, database connections and sandbox workers. Timers and
    notification delivery run once per `serve` (never once per process), or on Celery
    workers when DUTYFLOW_BROKER_URL is set (`dutyflow worker`).
    """
    from web.access_log import AccessLog
    from web.app import create_app
    from web.request_id import configure_logging

    if processes > 1 and sys.platform == "win32":
        _fail("--processes needs gunicorn, which runs on Linux and macOS; use one process")
    init_db(ctx.store)
    if processes == 1:
        engine_steps.pool().warm()  # sandbox workers start while the demo loads
    if demo:
        from services.demo import load_demo
        click.echo(load_demo(ctx.store, ctx.settings.timezone))
    # Warnings and errors from everything, and our own INFO lines (access log, timers
    # fired): SpiffWorkflow logs every task state change at INFO, a dozen records per
    # completion that nobody reads and that cost more than the access line itself.
    configure_logging(json_lines=ctx.settings.json_logs)
    for ours in ("dutyflow.access", "services.workflow.worker"):
        logging.getLogger(ours).setLevel(logging.INFO)
    where = f"DutyFlow on http://{host}:{port}/"
    if processes > 1:
        _serve_prefork(ctx, host, port, processes, threads, where)
        return
    import waitress

    stop = threading.Event()
    notifier = None
    if not ctx.settings.broker_url:
        threading.Thread(target=worker.run_forever, args=(ctx.store, 5.0, stop),
                         daemon=True).start()
        notifier = _start_background_process(timers=False)
    app = create_app(ctx.settings, store=ctx.store)
    click.echo(f"{where} ({threads} threads)")
    try:
        waitress.serve(AccessLog(app), host=host, port=port, threads=threads,
                       ident="DutyFlow", _quiet=True)
    finally:
        stop.set()
        _stop(notifier)


def _serve_prefork(ctx: _Context, host: str, port: int, processes: int, threads: int,
                   where: str) -> None:
    from web import prefork
    from web.access_log import AccessLog
    from web.app import create_app

    # Nothing the master opened may reach the forked workers: they open their own.
    old_pool = engine_steps.use_pool(None)
    if old_pool is not None:
        old_pool.close()
    ctx.store.dispose()
    settings = ctx.settings
    # Timers and deliveries once for the whole server, in one process beside the master.
    background = None if settings.broker_url else _start_background_process(timers=True)
    click.echo(f"{where} ({processes} processes x {threads} threads)")
    try:
        prefork.serve(lambda: AccessLog(create_app(settings)), host, port, processes, threads)
    finally:
        _stop(background)


def _stop(process: subprocess.Popen | None) -> None:
    if process is not None:
        process.terminate()
        process.wait(timeout=30)


def _operator() -> Actor:
    """Whoever runs the CLI operates the deployment: HR and admin rights, audited by OS user."""
    return Actor.operator(f"cli:{getpass.getuser()}")


def _mapping_option(pairs: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        old, equals, new = pair.partition("=")
        if not equals or not old.strip() or not new.strip():
            _fail(f"--mapping {pair!r} is not OLD_ELEMENT=NEW_ELEMENT")
        mapping[old.strip()] = new.strip()
    return mapping


def _echo_plan(plan: dict) -> None:
    click.echo(f"{plan['process_key']} v{plan['from_version']} -> v{plan['to_version']}")
    click.echo("duties (before -> after):")
    for duty in plan["duties"]:
        if duty["change"] == "same":
            continue
        before = f"{duty['element_before'] or '-'} [{', '.join(duty['departments_before'])}]"
        after = f"{duty['element_after'] or '-'} [{', '.join(duty['departments_after'])}]"
        notes = [f"new fields {', '.join(duty['fields_added'])}"] if duty["fields_added"] else []
        if duty["deadline_before"] != duty["deadline_after"]:
            notes.append(f"deadline {duty['deadline_before'] or '-'} -> "
                         f"{duty['deadline_after'] or '-'}")
        click.echo(f"  {duty['change']:8} {before} -> {after}"
                   + (f" ({'; '.join(notes)})" if notes else ""))
    for entry in plan["instances"]:
        if not entry["migratable"]:
            click.echo(f"  instance {entry['instance_id']} left out: "
                       f"{'; '.join(entry['left_out'])}")
    summary = plan["summary"]
    click.echo(f"{summary['migratable']} of {summary['instances']} instances can be migrated, "
               f"{summary['left_out']} left out")


@main.command("migrate")
@click.argument("key")
@click.option("--from", "from_version", type=click.IntRange(1), help="The version they are on.")
@click.option("--to", "to_version", type=click.IntRange(1), help="The version to move them to.")
@click.option("--mapping", "pairs", multiple=True, metavar="OLD=NEW",
              help="Map an active element the new version names otherwise (repeatable).")
@click.option("--instance", "instance_ids", type=click.IntRange(1), multiple=True,
              help="Only these instances (repeatable; default: all of the version).")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--reason", default="migrated with the dutyflow command", show_default=True)
@click.option("--batch-size", default=migration.BATCH_SIZE, show_default=True,
              type=click.IntRange(1, 10_000))
@click.option("--resume", "resume_id", type=click.IntRange(1), default=None,
              help="Run on a migration that was stopped (its pending instances only).")
@pass_context
def migrate_command(ctx: _Context, key: str, from_version: int | None, to_version: int | None,
                    pairs: tuple[str, ...], instance_ids: tuple[int, ...], dry_run: bool,
                    reason: str, batch_size: int, resume_id: int | None) -> None:
    """Migrate the running instances of process KEY from one version to another, in
    batches, with a progress bar; --dry-run prints the plan (who does which step before
    and after, which instances are left out and why)."""
    mapping = _mapping_option(pairs)
    operator = _operator()
    with _reported():
        if resume_id is not None:
            with ctx.store.reading() as uow:
                row = migration.resumable(uow, operator, resume_id)
                if row.process_key != key:
                    _fail(f"migration {resume_id} migrates {row.process_key}, not {key}")
            migration_id = resume_id
        else:
            if from_version is None or to_version is None:
                _fail("give --from and --to (or --resume ID)")
            ids = list(instance_ids) or None
            if dry_run:
                with ctx.store.reading() as uow:
                    _echo_plan(migration.plan(uow, operator, key, from_version, to_version,
                                              mapping, ids))
                return
            with ctx.store.writing() as uow:
                migration_id = migration.create(uow, operator, key, from_version, to_version,
                                                reason, mapping, ids).id
        click.echo(f"migration {migration_id}", err=True)
        with click.progressbar(length=1, label=f"migrating {key}", file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            migration.run(ctx.store, migration_id, batch_size, progress, operator)
        with ctx.store.reading() as uow:
            view = migration.progress(uow, migration.get(uow, operator, migration_id))
    click.echo(json.dumps({name: view[name] for name in (
        "id", "status", "total", "migrated", "left_out", "skipped", "outside")},
        ensure_ascii=False, indent=2))


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
@click.option("--background", is_flag=True,
              help="Queue the run as a job for a Celery worker (needs DUTYFLOW_BROKER_URL).")
@pass_context
def payroll_run(ctx: _Context, period: str, background: bool) -> None:
    """Calculate a draft payroll run for a period."""
    if background:
        _queue_payroll_run(ctx, period)
        return
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


def _queue_payroll_run(ctx: _Context, period: str) -> None:
    if not ctx.settings.broker_url:
        _fail("--background needs a broker: set DUTYFLOW_BROKER_URL and run dutyflow worker")
    from services.pay.kpi import parse_period
    from web.jobs import PAYROLL_RUN, make_celery

    with _reported():
        parse_period(period, ctx.settings.timezone)  # a bad period is refused here, not later
    job = make_celery(ctx.settings).send_task(PAYROLL_RUN, args=[period, _operator().username])
    click.echo(f"payroll run of {period} queued (job {job.id}); the worker's log says when "
               "it is calculated, and it is listed among the runs")


@payroll_group.command("approve")
@click.argument("run_id", type=int)
@click.option("--as", "username", required=True,
              help="The HR user approving: not whoever prepared the run.")
@pass_context
def payroll_approve(ctx: _Context, run_id: int, username: str) -> None:
    """Approve a draft run for finalising (four eyes)."""
    with _reported():
        with ctx.store.writing() as uow:
            run = payroll_runs.approve(uow, actor_named(uow, username), run_id)
    click.echo(f"payroll run {run.id} ({run.period}) approved by {username}")


@payroll_group.command("reject")
@click.argument("run_id", type=int)
@click.option("--as", "username", required=True, help="The HR user rejecting it.")
@click.option("--reason", required=True)
@pass_context
def payroll_reject(ctx: _Context, run_id: int, username: str, reason: str) -> None:
    """Send a draft run back with a reason (four eyes)."""
    with _reported():
        with ctx.store.writing() as uow:
            run = payroll_runs.reject(uow, actor_named(uow, username), run_id, reason)
    click.echo(f"payroll run {run.id} ({run.period}) rejected by {username}")


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
