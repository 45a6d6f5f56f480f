"""Diagrams from other tools: how many deploy and start an instance, file by file.

    .venv/bin/python bench/interop.py [--files ../shared/interop] [--baseline REF]

Every `.bpmn` file under `--files` goes through lint, deploy (together with the `.dmn`
files of its folder, as one deployment, where this checkout deploys several files) and one
instance start on a fresh SQLite database, with an org made for the file: each lane and
candidate group is a
department whose `lanes` name it, each literal assignee or candidate user an employee of
the department that owns the task, and a department `interop` for what no lane or group
owns. The start data is what the start form accepts, found by trying plain answers field by
field (a form's options first). Files without an executable process (descriptive models) are
listed but not counted.

One line per file: the first line of the refusal, or `ok` with what the started instance
stands at, read from the rows the services keep for it (and any deploy warnings):
`ok (waits for: user task X, timer T, message M, external worker on topic P, incident on E,
called process K: ...)` or `ok (completed)` when it ended at once (an event that fired
immediately ends it too, so the line says so). A running instance with none of these rows
is `stuck: running with nothing to wait for`, and is not counted as deploying and starting:
nothing could ever move it on.
With `--baseline REF` the same run is made on that commit (a temporary git worktree) and
its verdict is printed beside each file, with both totals at the end.
"""
from __future__ import annotations

import argparse
import inspect
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from lxml import etree

from _support import ROOT, migrate  # noqa: E402  (puts the checkout on sys.path)

from engine.errors import FormValidationError  # noqa: E402
from services.org import org_file  # noqa: E402
from services.persistence.models import (EventSubscription, ExternalTask,  # noqa: E402
                                         Incident, ProcessInstance, Task, Timer)
from services.persistence.statuses import (ExternalTaskStatus, TaskStatus,  # noqa: E402
                                           TimerStatus)
from services.persistence.unit_of_work import Store  # noqa: E402
from services.workflow import definitions, instances  # noqa: E402

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
ACTIVITI = "http://activiti.org/bpmn"
ZEEBE = "http://camunda.org/schema/zeebe/1.0"
DEFAULT_DEPARTMENT = "interop"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=Path, default=ROOT.parent / "shared" / "interop")
    parser.add_argument("--baseline", help="a git commit to run the same files on, for comparison")
    parser.add_argument("--json", action="store_true", help="print the verdicts as JSON only")
    args = parser.parse_args()
    files = sorted(args.files.rglob("*.bpmn"))
    verdicts = {str(path.relative_to(args.files)): verdict(path) for path in files}
    if args.json:
        print(json.dumps(verdicts))
        return
    before = baseline(args.baseline, args.files) if args.baseline else {}
    width = max(map(len, verdicts))
    for name, now in verdicts.items():
        then = before.get(name)
        print(f"{name:<{width}}  {now}" + (f"\n{'':<{width}}  baseline: {then}" if then and then != now else ""))
    print()
    print(total("this checkout", verdicts))
    if before:
        print(total(f"baseline {args.baseline}", before))


def verdict(path: Path) -> str:
    source = path.read_bytes()
    try:
        root = etree.fromstring(source, _PARSER)
    except etree.XMLSyntaxError as err:
        return f"refused: not XML: {err}"
    executable = root.findall(f"{{{BPMN}}}process[@isExecutable='true']")
    if not executable:
        return "not executable (a descriptive model)"
    with tempfile.TemporaryDirectory(prefix="dutyflow-interop-") as folder:
        url = f"sqlite:///{folder}/interop.db"
        migrate(url)
        store = Store(url)
        try:
            return _deploy_and_start(store, root, source, path.name, _decision_files(path))
        except Exception as err:  # every refusal is the verdict being measured
            return f"refused: {_first_line(err)}"
        finally:
            store.dispose()


def _decision_files(path: Path) -> list[tuple[str, bytes]]:
    """The DMN files beside a diagram, deployed with it as its business rule tasks need,
    and its Camunda Forms: the `.form` files named with the diagram's `group__` prefix
    (Camunda's examples flattened into one folder), under the names its form keys use."""
    files = [(dmn.name, dmn.read_bytes()) for dmn in sorted(path.parent.glob("*.dmn"))]
    prefix = path.name.rsplit("__", 1)[0] + "__" if "__" in path.name else ""
    return files + [(form.name[len(prefix):], form.read_bytes())
                    for form in sorted(path.parent.glob(f"{prefix}*.form"))]


def _deploy_and_start(store: Store, root, source: bytes, filename: str,
                      decision_files: list[tuple[str, bytes]]) -> str:
    with store.writing() as uow:
        org_file.import_org(uow, yaml.safe_dump(org_for(root), allow_unicode=True),
                            "interop_org.yaml", "bench")
    options = {}
    if "default_department" in inspect.signature(definitions.deploy).parameters:
        options["default_department"] = DEFAULT_DEPARTMENT
    if hasattr(definitions, "deploy_files"):  # several files deploy together
        results = definitions.deploy_files(store, [(filename, source), *decision_files],
                                           "admin", **options)
    else:
        results = definitions.deploy(store, source, filename, "admin", **options)
    warnings = [warning for result in results for warning in getattr(result, "warnings", ())]
    key = results[0].definition.key
    with store.reading() as uow:
        start_form = definitions.model_of(uow, results[0].definition).start_form
    with store.writing() as uow:
        started = instances.start_process(uow, key, filled_in(start_form), "admin")
    status = getattr(started, "status", "running")
    if status == "error":
        return f"refused: started {key} into error: {_first_line(started.error)}"
    with store.reading() as uow:
        instance = uow.session.get(ProcessInstance, started.id)
        if instance.status == "error":  # e.g. a call activity whose child failed as it began
            return f"refused: started {key} into error: {_first_line(instance.error)}"
        stands = standing(uow, instance)
    warned = f"{len(warnings)} warnings: {'; '.join(map(str, warnings))[:200]}" if warnings else ""
    if stands is None:
        return "stuck: running with nothing to wait for" + (f" ({warned})" if warned else "")
    return f"ok ({'; '.join(filter(None, (stands, warned)))})"


def standing(uow, instance: ProcessInstance) -> str | None:
    """What a started instance stands at, from its rows: `completed` (or its other finished
    or suspended status), `waits for: ...` listing its ready tasks, pending timers, message
    and signal subscriptions, open external tasks, open incidents and called instances that
    themselves wait, or None when it runs with none of these (stuck)."""
    if instance.status != "running":
        return str(instance.status)
    waits = _waits(uow, instance)
    return "waits for: " + ", ".join(waits) if waits else None


def _waits(uow, instance: ProcessInstance) -> list[str]:
    def rows(model, *where):
        return uow.session.query(model).filter(model.process_instance_id == instance.id,
                                               *where).order_by(model.element_id).all()

    waits = [f"user task {task.element_id}" for task in rows(Task, Task.status == TaskStatus.READY)]
    waits += [f"timer {timer.element_id}"
              for timer in rows(Timer, Timer.status == TimerStatus.PENDING)]
    waits += [f"{sub.kind} {sub.name}" for sub in rows(EventSubscription)]
    waits += [f"external worker on topic {task.topic}"
              for task in rows(ExternalTask, ExternalTask.status == ExternalTaskStatus.OPEN)]
    waits += [f"incident on {incident.element_id or instance.process_key}"
              for incident in rows(Incident, Incident.resolved_at.is_(None))]
    children = uow.session.query(ProcessInstance).filter(
        ProcessInstance.parent_instance_id == instance.id).order_by(ProcessInstance.id).all()
    for child in children:
        if child.status == "running":
            child_waits = _waits(uow, child)
            if child_waits:  # a called instance that waits for nothing cannot move its caller
                waits.append(f"called process {child.process_key}: {', '.join(child_waits)}")
        elif child.status in ("suspended", "error"):
            waits.append(f"called process {child.process_key} ({child.status})")
    return waits


# What a person might type into a start form's field, tried in turn until the form takes it.
_ANSWERS = (1, "1", True, "2024-01-01", "C-1", "x")


def filled_in(form) -> dict:
    """Start data the start form accepts, as someone filling it in would give: each field
    the form refuses gets its first option or the next plain answer it takes."""
    data: dict = {}
    tries = {field.id: iter([option for option, _ in field.options] + list(_ANSWERS))
             for field in form.fields}
    for _ in range(len(tries) * (len(_ANSWERS) + 1) + 1):
        try:
            form.validate(data)
            return data
        except FormValidationError as refused:
            for field in refused.errors:
                answer = next(tries.get(field, iter(())), None)
                if answer is None:
                    data.pop(field, None)
                else:
                    data[field] = answer
    return data


def org_for(root) -> dict:
    """Departments for the file's lanes and groups, employees for its named people (Camunda
    attributes in the Activiti namespace are Camunda's, as the loader reads them)."""
    groups = {lane.get("name").strip() for lane in root.iter(f"{{{BPMN}}}lane") if lane.get("name")}
    lane_of = {ref.text.strip(): lane.get("name").strip()
               for lane in root.iter(f"{{{BPMN}}}lane") if lane.get("name")
               for ref in lane.iter(f"{{{BPMN}}}flowNodeRef") if ref.text}
    people: dict[str, str] = {}
    for task in root.iter(f"{{{BPMN}}}userTask"):
        owned_by = _camunda(task, "candidateGroups") + (
            [lane_of[task.get("id")]] if task.get("id") in lane_of else [])
        for assignment in task.iter(f"{{{ZEEBE}}}assignmentDefinition"):
            owned_by += _split(assignment.get("candidateGroups"))
        groups.update(owned_by)
        named = _camunda(task, "candidateUsers") + _camunda(task, "assignee")
        for assignment in task.iter(f"{{{ZEEBE}}}assignmentDefinition"):
            named += _split(assignment.get("assignee")) + _split(assignment.get("candidateUsers"))
        for username in named:
            people.setdefault(username, owned_by[0] if owned_by else DEFAULT_DEPARTMENT)
    keys = {group: f"d{index}" for index, group in enumerate(sorted(groups), 1)}
    keys[DEFAULT_DEPARTMENT] = DEFAULT_DEPARTMENT
    pay = {"base_salary": "1000.00", "bonus_base": "100.00", "password": "interop"}
    departments = [{"key": key, "name": group, "lanes": [group] if group != DEFAULT_DEPARTMENT
                    else [], "head": None} for group, key in keys.items()]
    employees = [{"username": "admin", "name": "Admin", "department": DEFAULT_DEPARTMENT,
                  "roles": ["admin"], **pay}]
    employees += [{"username": username, "name": username, "department": keys[group],
                   "roles": ["staff"], **pay}
                  for username, group in sorted(people.items()) if username != "admin"]
    for department in departments:
        department.pop("head")
    return {"departments": departments, "employees": employees}


def _camunda(task, name: str) -> list[str]:
    return _split(task.get(f"{{{CAMUNDA}}}{name}") or task.get(f"{{{ACTIVITI}}}{name}"))


def _split(value: str | None) -> list[str]:
    """Literal names of a comma list; expressions (`${...}`, `=...`) name nobody yet."""
    if not value or "${" in value or "#{" in value or value.lstrip().startswith("="):
        return []
    return [name.strip() for name in value.split(",") if name.strip()]


def _first_line(err) -> str:
    """The first precise problem (`file:line: element: message`) where the error lists them."""
    details = getattr(err, "errors", None) or getattr(err, "problems", None)
    if isinstance(details, list) and details:
        first = details[0]
        if isinstance(first, dict) and "message" in first:
            first = f"line {first.get('line')}: {first.get('element_id')}: {first['message']}"
        return str(first)[:300]
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


def baseline(ref: str, files: Path) -> dict[str, str]:
    """The verdicts of commit `ref`: this script run in a temporary worktree of it."""
    with tempfile.TemporaryDirectory(prefix="dutyflow-baseline-") as folder:
        tree = Path(folder) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(tree), ref],
                       cwd=ROOT, check=True)
        try:
            shutil.copy(Path(__file__), tree / "bench" / "interop.py")
            done = subprocess.run([sys.executable, str(tree / "bench" / "interop.py"), "--json",
                                   "--files", str(files)], cwd=tree, check=True,
                                  capture_output=True, text=True)
            return json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                           check=True)


def total(label: str, verdicts: dict[str, str]) -> str:
    counted = [v for v in verdicts.values() if not v.startswith("not executable")]
    accepted = sum(v.startswith("ok") for v in counted)
    share = 100 * accepted / len(counted) if counted else 0.0
    return f"{label}: {accepted} of {len(counted)} executable diagrams deploy and start ({share:.0f}%)"


if __name__ == "__main__":
    main()
