"""Load BPMN documents as untrusted input: parse safely, validate fully, then compile.

Every problem found is reported as `file:line: element-id: message`, all at once,
so a designer fixes a diagram in one round trip. SpiffWorkflow's own exceptions are
translated here and never reach a caller.
"""
from __future__ import annotations

import dataclasses
import keyword
import re
import textwrap
from contextlib import contextmanager
from collections.abc import Sequence
from typing import Any, Callable

from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.defaults import NoneTask
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.camunda.specs.event_definitions import \
    MessageEventDefinition as CamundaMessageEventDefinition

from . import (business_rules, calls as call_activities, data_associations, deadlines, expressions,
               hooks, io_mapping, labels, listeners, people, sandbox)
from .camunda_forms import CamundaForm, is_form_file
from .expressions import camunda_api, script_languages
from .decisions import Decisions, load_decisions
from .form_references import FormCatalog, camunda_form_of
from .errors import BpmnValidationError, Problem
from .safe_xml import parse_safely
from .conditional_events import watch_in_place
from .cron import cron_cycles_in_place
from .spiff_parser import DutyFlowParser, start_event_subprocesses_with_their_scope
from .external_tasks import read_external, wait_for_workers
from .waits import check_waits
from .forms import (CONSTRAINTS, DEFAULT_MAX_FILES, FIELD_TYPES, FILE_PROPERTIES, FieldSpec,
                    FormSpec, parse_number)
from .model import DutySpec, ExternalSpec, ProcessModel
from .people import OrgSnapshot

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ACTIVITI_NS = "http://activiti.org/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS, "zeebe": ZEEBE_NS}
# Who a duty goes to: Camunda 7 attributes, and Zeebe's assignmentDefinition attributes
# (read as the Camunda 7 ones).
ASSIGNMENT = ("assignee", "candidateUsers", "candidateGroups")
MAX_BPMN_BYTES = 2 * 1024 * 1024
MAX_NAME_CHARS = 200  # process keys, names and element ids are stored in 200-character columns
TIMER_KINDS = ("timeDuration", "timeDate", "timeCycle")
SCRIPT_FORMATS = ("", "python", "py", "python3")
# Element counts no real diagram meets (the shipped ones have a few dozen): a document
# over them is refused before any per-element check or SpiffWorkflow parsing runs.
MAX_PROCESSES = 20
MAX_PER_PROCESS = {"flow nodes": 1000, "sequence flows": 2000, "lanes": 100}
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/(\*|[a-z0-9][a-z0-9.+-]*)")
_SUBPROCESS_KINDS = ("subProcess", "callActivity", "transaction", "adHocSubProcess")

OwnerCheck = Callable[[str], bool]


def load_processes(source: bytes, filename: str,
                   is_known_owner: OwnerCheck | None = None,
                   default_owner: str | None = None,
                   org: OrgSnapshot | None = None,
                   decision_files: Sequence[tuple[str, bytes]] = (),
                   latest_decision_files: Sequence[tuple[str, bytes]] = ()
                   ) -> list[ProcessModel]:
    """Parse, validate and compile every executable process in one BPMN document.

    `is_known_owner(name)` says whether a lane or candidate-group name routes to a
    department; without it ownership is checked for presence only (lint without an org).
    `default_owner` owns the user tasks that name no owner nor person (files from other
    tools draw no lanes); without it such a task is refused. `org`, when given, checks the
    usernames a diagram names literally (assignee, candidate users) against the membership
    rule of engine.people. `decision_files` are the other files deployed with the document
    (file name, text): DMN files, whose decisions its business rule tasks call
    (engine.business_rules), and Camunda Forms (`.form`, engine.form_references) that its
    tasks and start events show. `latest_decision_files` are the latest deployed files
    holding the decisions its business rule tasks call, and the forms its user tasks name
    by id, that the deployment lacks (sent with each step that needs them: Camunda's
    "latest" binding); without them such a task fails when it runs, and such a form is an
    UndeployedForm (engine.form_references). Raises BpmnValidationError listing every problem, of the DMN and form
    files too.
    """
    decisions: Decisions = {}
    dmn_problems: list[Problem] = []
    catalog = FormCatalog([file for file in decision_files if is_form_file(file[0])],
                          [file for file in latest_decision_files if is_form_file(file[0])])
    decision_files = [file for file in decision_files if not is_form_file(file[0])]
    latest_decision_files = [file for file in latest_decision_files
                             if not is_form_file(file[0])]
    if decision_files:
        try:
            decisions = load_decisions(decision_files)
        except BpmnValidationError as err:
            dmn_problems = err.problems
    root = parse_untrusted_xml(source, filename)
    checker = _Checker(filename, is_known_owner, default_owner,
                       expressions.declared_bpmn_language(root.get("expressionLanguage")), org,
                       catalog)
    checker.check_counts(root)
    checker.check_data_stores(root)
    checker.raise_if_any()
    checker.problems.extend(dmn_problems)
    checker.problems.extend(catalog.problems)
    processes = root.xpath("//bpmn:process[@isExecutable='true']", namespaces=NS)
    if not processes:
        checker.report(root, "the document has no executable process "
                             "(a bpmn:process with isExecutable=\"true\")")
    forms = {process.get("id"): checker.check_process(process) for process in processes}
    for process in processes:
        check_waits(root, process, checker.report)
    copies = {process.get("id"): data_associations.rewrite(process, checker.report, checker.warn)
              for process in processes}
    data_associations.drop_data_stores(root)
    external = {process.get("id"): checker.read_external(process) for process in processes}
    for process_id, (found, warnings) in external.items():
        external[process_id] = (found, warnings + tuple(checker.form_warnings.get(process_id, ())))
    # With broken DMN files, which decisions exist is unknown: their problems say enough.
    more_warnings: dict[str, list[Problem]] = {process.get("id"): [] for process in processes}
    scripts = {process.get("id"): listeners.read_listeners(
                   process, checker.report,
                   lambda element, message, line, key=process.get("id"):
                       more_warnings[key].append(checker.problem(element, message, line)))
               for process in processes}
    calls = {process.get("id"): business_rules.read_calls(
                 process, None if dmn_problems else decisions, checker.report, _is_variable,
                 lambda element, message, key=process.get("id"):
                     more_warnings[key].append(checker.problem(element, message)))
             for process in processes}
    local = {process.get("id") for process in root.iterfind("bpmn:process", NS)}
    called = {process.get("id"): call_activities.read_call_activities(
                  process, local, checker.report, checker.declared_language)
              for process in processes}
    mappings = {process.get("id"): io_mapping.read_mappings(
                    process, checker.declared_language, checker.report,
                    called[process.get("id")])
                for process in processes}
    checker.raise_if_any()
    models = _compile(root, processes, forms, external, checker, default_owner, called)
    for model in models:
        data_associations.attach([model.spec, *model.subprocess_specs.values()],
                                 copies[model.key])
    latest = _latest_decisions(latest_decision_files)
    for model in models:
        business_rules.attach([model.spec, *model.subprocess_specs.values()], calls[model.key],
                              decisions, latest)
        listeners.attach([model.spec, *model.subprocess_specs.values()], scripts[model.key])
        # Outermost: inputs are mapped before start listeners, outputs before end ones.
        io_mapping.attach([model.spec, *model.subprocess_specs.values()], mappings[model.key])
        _evaluate_loop_inputs([model.spec, *model.subprocess_specs.values()],
                              checker.loop_inputs)
    return [dataclasses.replace(
                model, decisions=decisions,
                missing_decisions=business_rules.missing(calls[model.key].values(), decisions),
                missing_forms=tuple(sorted(catalog.missing)),
                warnings=model.warnings + tuple(more_warnings[model.key]))
            for model in models]


def _evaluate_loop_inputs(specs: Sequence, loops: dict[str, tuple[str, str]]) -> None:
    """Make each multi-instance element whose Camunda 8 inputCollection is an expression
    evaluate it over its data before it makes its instances (into the variable the loop
    reads), and drop that variable when the element ends."""
    for spec in specs:
        for task_spec in spec.task_specs.values():
            loop = loops.get(getattr(task_spec, "bpmn_id", None))
            if loop is not None and isinstance(task_spec, MultiInstanceTask):
                hooks.on_inherit(task_spec, _collection_evaluator(*loop))
                hooks.on_end(task_spec, lambda my_task, name=loop[0]: my_task.data.pop(name, None))


def _collection_evaluator(variable: str, stored: str) -> Callable[[Any], None]:
    def evaluate(my_task: Any) -> None:
        try:
            value = expressions.evaluate(stored, my_task.data)
        except sandbox.SandboxError as err:
            raise WorkflowTaskException(f"zeebe:loopCharacteristics inputCollection "
                                        f"{stored!r}: {err}", task=my_task) from None
        if not isinstance(value, list):
            given = "null" if value is None else repr(value)[:60]
            raise WorkflowTaskException(f"zeebe:loopCharacteristics inputCollection "
                                        f"{stored!r} gave {given}, not a list", task=my_task)
        my_task.data[variable] = value
    return evaluate


def _latest_decisions(files: Sequence[tuple[str, bytes]]) -> Decisions:
    """The decisions of the latest deployed files that hold the ones a deployment lacks:
    each file on its own (two deployments may each hold a decision of the same id)."""
    found: dict = {}
    for name, text in files:
        found.update(load_decisions([(name, text)]))
    return found


def parse_untrusted_xml(source: bytes, filename: str) -> etree._Element:
    """Refuse oversized documents, DTDs and entities; never touch the network."""
    root = parse_safely(source, filename, MAX_BPMN_BYTES)
    if etree.QName(root).namespace != BPMN_NS or etree.QName(root).localname != "definitions":
        raise BpmnValidationError([Problem(filename, root.sourceline, None,
                                           "the root element is not a BPMN 2.0 bpmn:definitions")])
    if ACTIVITI_NS.encode() in source:
        _activiti_as_camunda(root)
    return root


def _activiti_as_camunda(root: etree._Element) -> None:
    """Camunda 7 reads the namespace of Activiti, the engine it was forked from, as its own
    (Camunda Modeler 2 wrote `xmlns:camunda="http://activiti.org/bpmn"`): so does DutyFlow,
    rather than run such a diagram without its forms, people, delegates and listeners."""
    old, new = f"{{{ACTIVITI_NS}}}", f"{{{CAMUNDA_NS}}}"
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag.startswith(old):
            element.tag = new + element.tag[len(old):]
        for name in [name for name in element.attrib if name.startswith(old)]:
            element.set(new + name[len(old):], element.attrib.pop(name))


class _Checker:
    """Collects problems while walking one document; rewrites expressions in place.

    The rewriting (unwrapping `${...}`, quoting literal ISO timers) makes the XML what
    SpiffWorkflow can evaluate; the caller keeps the original bytes for designers.
    """

    def __init__(self, filename: str, is_known_owner: OwnerCheck | None,
                 default_owner: str | None = None,
                 declared_language: expressions.Language | None = None,
                 org: OrgSnapshot | None = None, forms: FormCatalog | None = None):
        self.filename = filename
        self.forms = forms or FormCatalog([])
        self.form_warnings: dict[str, list[Problem]] = {}  # by process id
        self.is_known_owner = is_known_owner
        self.default_owner = default_owner
        self.declared_language = declared_language  # the definitions' expressionLanguage
        self.org = org
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []  # what deploys but runs other than a reader may expect
        # Camunda 8 loops over an expression: {element id: (variable, stored FEEL)}.
        self.loop_inputs: dict[str, tuple[str, str]] = {}

    def warn(self, element: etree._Element, message: str) -> None:
        self.warnings.append(self.problem(element, message))

    def report(self, element: etree._Element, message: str, line: int | None = None) -> None:
        self.problems.append(self.problem(element, message, line))

    def problem(self, element: etree._Element, message: str, line: int | None = None) -> Problem:
        element_id = element.get("id") if element is not None else None
        line = line if line is not None else (element.sourceline if element is not None else None)
        return Problem(self.filename, line, element_id, message)

    def read_external(self, process: etree._Element) -> tuple[dict[str, ExternalSpec],
                                                               tuple[Problem, ...]]:
        """The process's external tasks, and the process's warnings: what waits instead of
        running, and what the checks of the process noted (self.warnings)."""
        warnings: list[Problem] = []
        external = read_external(process, self.report,
                                 lambda element, message: warnings.append(
                                     self.problem(element, message)))
        ids = {element.get("id") for element in process.iter() if isinstance(element.tag, str)}
        noted = [warning for warning in self.warnings if warning.element_id in ids]
        return external, tuple(sorted(noted + warnings, key=lambda p: (p.line or 0, p.message)))

    def raise_if_any(self) -> None:
        if self.problems:
            raise BpmnValidationError(sorted(self.problems, key=lambda p: (p.line or 0, p.message)))

    def check_counts(self, root: etree._Element) -> None:
        """Refuse documents over the element limits, so every later pass stays small."""
        processes = root.findall("bpmn:process", NS)
        if len(processes) > MAX_PROCESSES:
            self.report(processes[MAX_PROCESSES], f"the document has {len(processes)} processes; "
                                                  f"the limit is {MAX_PROCESSES}")
        for process in processes:
            counts = dict.fromkeys(MAX_PER_PROCESS, 0)
            for element in process.iter(f"{{{BPMN_NS}}}*"):
                kind = _counted_kind(etree.QName(element).localname)
                if kind:
                    counts[kind] += 1
            for kind, count in counts.items():
                if count > MAX_PER_PROCESS[kind]:
                    self.report(process, f"the process has {count} {kind}; "
                                         f"the limit is {MAX_PER_PROCESS[kind]}")

    def check_data_stores(self, root: etree._Element) -> None:
        """A data store nothing refers to is a drawing's note (MIWG C.1.1 declares its
        accounting system so): it is dropped, since SpiffWorkflow refuses every store it has
        no implementation for. Stores that are referred to are left as they are."""
        used = {reference.get("dataStoreRef")
                for reference in root.iterfind(".//bpmn:dataStoreReference", NS)}
        for store in root.findall("bpmn:dataStore", NS):
            if store.get("id") not in used:
                root.remove(store)

    def check_process(self, process: etree._Element) -> dict[str, FormSpec]:
        """Validate one process; return the forms of its user tasks and start events."""
        self._check_lengths(process)
        self._read_zeebe_loops(process)
        lanes = _lane_of_nodes(process)
        for lane in process.iterfind(".//bpmn:lane", NS):
            if not (lane.get("name") or "").strip():
                self.report(lane, "lane has no name; a lane's name routes its tasks to a department")
        forms: dict[str, FormSpec] = {}
        self._process_id = process.get("id")
        for task in _duties_of(process):
            _read_zeebe_assignment(task)
            self._check_owner(task, lanes.get(task.get("id")))
            self._check_due_date(task)
            self._check_countersign(task)
            self._check_follow_ups(task)
            forms[task.get("id")] = self._read_form(task)
        for start in process.iterfind(".//bpmn:startEvent", NS):
            forms[start.get("id")] = self._read_form(start)
            if isinstance(forms[start.get("id")], CamundaForm) and forms[start.get("id")].file_fields:
                self.report(start, "a start form cannot take files (files travel with a task's "
                                   "completion): ask for them in the first task's form")
            self._check_initiator(start)
        self._check_departments(process, "candidate starter group",
                                _names(process, "candidateStarterGroups"))
        self._check_conditions(process)
        self._check_gateways(process)
        self._check_multi_instance(process)
        self._check_scripts(process)
        self._check_timers(process)
        self._check_unsupported(process)
        return forms

    def _check_unsupported(self, process: etree._Element) -> None:
        """Constructs the engine cannot run, refused where they are drawn rather than
        failing when an instance reaches them."""
        for subprocess in process.iterfind(".//bpmn:adHocSubProcess", NS):
            self.report(subprocess, "ad-hoc subprocesses are not supported: draw the order of "
                                    "its tasks, or a parallel gateway to offer them all at once")
        for gateway in process.iterfind(".//bpmn:complexGateway", NS):
            self.report(gateway, "complex gateways are not supported: draw an inclusive "
                                 "gateway (or exclusive and parallel ones) instead")
        for definition in process.iterfind(".//bpmn:compensateEventDefinition", NS):
            self.report(definition.getparent(), "compensation is not supported (DutyFlow cannot "
                                                "undo finished work): draw the undoing steps on "
                                                "an error or escalation path",
                        definition.sourceline)

    def _check_lengths(self, process: etree._Element) -> None:
        for element in process.iter():
            if not isinstance(element.tag, str):
                continue
            for attribute in ("id", "name"):
                value = element.get(attribute) or ""
                if len(value) > MAX_NAME_CHARS:
                    self.report(element, f"{attribute} is {len(value)} characters long; "
                                         f"the limit is {MAX_NAME_CHARS}")

    def _check_owner(self, task: etree._Element, lane: str | None) -> None:
        groups = candidate_groups(task)
        group_expression = self._assignment_expression(task, "candidateGroups")
        assignee, candidates = _camunda(task, "assignee"), _camunda(task, "candidateUsers")
        if not lane and not groups and group_expression is None and assignee is None \
                and candidates is None:
            if self.default_owner is None:
                kind = "manual task" if etree.QName(task).localname == "manualTask" \
                    else "user task"
                self.report(task, f"{kind} has no owner: put it in a lane, give it "
                                  "camunda:candidateGroups naming a department, name a person "
                                  "with camunda:assignee or camunda:candidateUsers, or deploy "
                                  "with a default department")
            return
        self._check_departments(task, "lane", [lane] if lane else [])
        self._check_departments(task, "candidate group", groups)
        # Groups an expression gives are known only at run time: a literal person is then
        # only checked to be an active member of the org.
        owners = () if group_expression is not None else ((lane,) if lane else ()) + groups
        # Who gets the task if a named person cannot be worked out here (engine.expressions
        # camunda_api.UnavailableApi): its lane, groups or the default department.
        fallback = bool(lane or groups or group_expression or self.default_owner)
        for kind, text in (("assignee", assignee), ("candidateUsers", candidates)):
            if text is not None:
                self._check_people(task, kind, text, owners, fallback)

    def _assignment_expression(self, task: etree._Element, attribute: str,
                               fallback: bool = False) -> str | None:
        """The attribute's expression, checked, stored (in the tree) in the form the engine
        evaluates (expressions.canonical); None when it is literal text or absent. One
        calling a bean's method (Java code) is left out with a warning when the task has
        another owner (`fallback`)."""
        text = _camunda(task, attribute)
        if text is None or not people.is_expression(text):
            return None
        # The definitions' expressionLanguage is the default of BPMN's formal expressions;
        # XPath never reads a Camunda attribute (`${approver}` is Camunda's own syntax).
        declared = None if self.declared_language is expressions.Language.XPATH \
            else self.declared_language
        language = expressions.detect(text, declared)
        try:
            expressions.check(text, language)
        except camunda_api.UnavailableApi as err:
            if fallback:
                self.warn(task, f"{attribute} {text!r} ({language.value}): {err}: Java code "
                                f"cannot run in DutyFlow; the {attribute} is left out and the "
                                "task goes to its lane, candidate groups or default department")
                del task.attrib[f"{{{CAMUNDA_NS}}}{attribute}"]
                return None
            self._report_expression(task, attribute, text, language, err)
            return None
        except sandbox.SandboxError as err:
            self._report_expression(task, attribute, text, language, err)
            return None
        canonical = expressions.canonical(text, language)
        task.set(f"{{{CAMUNDA_NS}}}{attribute}", canonical)
        return canonical

    def _report_expression(self, task: etree._Element, attribute: str, text: str,
                           language: expressions.Language, err: sandbox.SandboxError) -> None:
        self.report(task, f"{attribute} {text!r} ({language.value}): {err}",
                    task.sourceline + ((err.line or 1) - 1
                                       if isinstance(err, expressions.ExpressionSyntaxError)
                                       else 0))

    def _check_people(self, task: etree._Element, kind: str, text: str,
                      owners: tuple[str, ...], fallback: bool) -> None:
        """A username (a comma list for candidateUsers) or one expression (`${...}`,
        `#{...}`, FEEL's `=...`); named users must pass the membership rule when the org
        is known."""
        if people.is_expression(text):
            self._assignment_expression(task, kind, fallback)
            return
        names = people.literal_users(text)
        if "${" in text or not names or (kind == "assignee" and len(names) > 1):
            what = "a username" if kind == "assignee" else "a comma list of usernames"
            self.report(task, f"{kind} {text!r} must be {what} or one ${{...}} expression")
            return
        for name in names if self.org is not None else ():
            problem = self.org.membership_problem(name, owners)
            if problem:
                self.report(task, f"{kind}: {problem}")

    def _read_zeebe_loops(self, process: etree._Element) -> None:
        """Camunda 8's `zeebe:loopCharacteristics` (inputCollection, inputElement) as the
        Camunda 7 attributes SpiffWorkflow runs (camunda:collection, camunda:elementVariable):
        one instance per item of the collection. An inputCollection that is an expression
        (`= [\"a\", \"b\"]`, `= order.lines`) is evaluated into a variable of its own as the
        element starts (`_evaluate_loop_inputs`). Its outputCollection and outputElement are
        read by `loop_outputs`."""
        for loop in process.iterfind(".//bpmn:multiInstanceLoopCharacteristics", NS):
            zeebe = loop.find(f"bpmn:extensionElements/{{{ZEEBE_NS}}}loopCharacteristics", NS)
            if zeebe is None:
                continue
            owner = loop.getparent()
            collection = (zeebe.get("inputCollection") or "").strip().lstrip("=").strip()
            element = (zeebe.get("inputElement") or "").strip()
            if not _is_variable(collection):
                collection = self._loop_input(owner, zeebe)
                if collection is None:
                    continue
            if not _is_variable(element):
                element = "loopElement"  # Camunda 8 allows none: each instance still needs one
            # Both forms: SpiffWorkflow's Camunda parsers read the attributes, its BPMN
            # ones (script and service tasks) the standard elements.
            loop.set(f"{{{CAMUNDA_NS}}}collection", collection)
            loop.set(f"{{{CAMUNDA_NS}}}elementVariable", element)
            if loop.find("bpmn:loopDataInputRef", NS) is None:
                etree.SubElement(loop, f"{{{BPMN_NS}}}loopDataInputRef").text = collection
                etree.SubElement(loop, f"{{{BPMN_NS}}}inputDataItem", id=element, name=element)
            output = (zeebe.get("outputCollection") or "").strip()
            output_element = (zeebe.get("outputElement") or "").strip()
            if output and not _is_variable(output):
                self.report(owner, f"zeebe:loopCharacteristics outputCollection {output!r} "
                                   "must name a variable", zeebe.sourceline)
            elif bool(output) != bool(output_element):
                self.report(owner, "zeebe:loopCharacteristics needs outputCollection and "
                                   "outputElement together", zeebe.sourceline)
            elif output_element:
                text = output_element if output_element.startswith("=") \
                    else "=" + output_element
                try:
                    expressions.check(text, expressions.Language.FEEL)
                except sandbox.SandboxError as err:
                    self.report(owner, f"zeebe:loopCharacteristics outputElement "
                                       f"{output_element!r}: {err}", zeebe.sourceline)

    def _loop_input(self, owner: etree._Element, zeebe: etree._Element) -> str | None:
        """The variable an inputCollection expression's value goes in (None if refused)."""
        written = (zeebe.get("inputCollection") or "").strip()
        text = written if written.startswith("=") else "=" + written
        if not text.lstrip("=").strip():
            self.report(owner, "zeebe:loopCharacteristics needs an inputCollection (e.g. "
                               "\"= items\")", zeebe.sourceline)
            return None
        try:
            expressions.check(text, expressions.Language.FEEL)
        except sandbox.SandboxError as err:
            self.report(owner, f"zeebe:loopCharacteristics inputCollection {written!r}: {err}",
                        zeebe.sourceline)
            return None
        variable = "loopItems_" + re.sub(r"\W", "_", owner.get("id") or "")
        self.loop_inputs[owner.get("id")] = (
            variable, expressions.canonical(text, expressions.Language.FEEL))
        return variable

    def _check_countersign(self, task: etree._Element) -> None:
        """A countersign (会签/或签): one instance per item of `camunda:collection`, the item
        in `camunda:elementVariable` (or a counted `bpmn:loopCardinality`), until every
        instance is done or the completion condition holds (checked, in any expression
        language, with the other multi-instance expressions). `${...}` is unwrapped for
        SpiffWorkflow."""
        loop = task.find("bpmn:multiInstanceLoopCharacteristics", NS)
        if loop is None:
            return
        collection_attribute = f"{{{CAMUNDA_NS}}}collection"
        if loop.get(collection_attribute) is None:
            if loop.find("bpmn:loopCardinality", NS) is None:
                self.report(task, "a multi-instance user task needs camunda:collection naming "
                                  "the list in process data (e.g. \"${signers}\") or a "
                                  "bpmn:loopCardinality", loop.sourceline)
            return
        collection = sandbox.unwrap(loop.get(collection_attribute) or "")
        if not _is_variable(collection):
            self.report(task, "a multi-instance user task needs camunda:collection naming the "
                              "list in process data (e.g. \"${signers}\")", loop.sourceline)
        else:
            loop.set(collection_attribute, collection)
        if not _is_variable(_camunda(loop, "elementVariable") or ""):
            self.report(task, "a multi-instance user task needs camunda:elementVariable, the "
                              "name each instance's item goes under (e.g. \"signer\")",
                        loop.sourceline)

    def _check_collection(self, owner: etree._Element, loop: etree._Element, kind: str) -> None:
        """One instance per item of `camunda:collection`, the item under
        `camunda:elementVariable`; `${...}` is unwrapped for SpiffWorkflow."""
        attribute = f"{{{CAMUNDA_NS}}}collection"
        collection = sandbox.unwrap(loop.get(attribute) or "")
        if not _is_variable(collection):
            self.report(owner, f"a multi-instance {kind} needs camunda:collection naming the "
                               "list in process data (e.g. \"${lines}\")", loop.sourceline)
        else:
            loop.set(attribute, collection)
        if not _is_variable(_camunda(loop, "elementVariable") or ""):
            self.report(owner, f"a multi-instance {kind} needs camunda:elementVariable, the "
                               "name each instance's item goes under (e.g. \"line\")",
                        loop.sourceline)

    def _check_initiator(self, start: etree._Element) -> None:
        name = _camunda(start, "initiator")
        if name is not None and not _is_variable(name):
            self.report(start, f"initiator {name!r} must be a name usable in expressions "
                               "(letters, digits, underscore; not starting with _ or a digit)")

    def _check_departments(self, element: etree._Element, kind: str, names) -> None:
        """Each name must route to a department (checked when the org is known)."""
        for name in names:
            if "${" in name:
                self.report(element, f"{kind} {name!r} must name a department, not an expression")
            elif self.is_known_owner is not None and not self.is_known_owner(name):
                self.report(element, f"{kind} {name!r} names no known department "
                                     "(matched against department keys, names and lanes)")

    def _check_due_date(self, task: etree._Element) -> None:
        due = task.get(f"{{{CAMUNDA_NS}}}dueDate")
        if due is not None:
            problem = deadlines.check_due_date(due)
            if problem:
                self.report(task, problem)

    def _check_follow_ups(self, task: etree._Element) -> None:
        for name, value, line in _follow_up_properties(task):
            if not deadlines.is_duration(value):
                self.report(task, f"{name} {value!r} must be an ISO 8601 duration from when "
                                  "the task is ready, e.g. PT4H or P1D", line)

    def _read_form(self, element: etree._Element) -> FormSpec:
        """The element's Camunda Form (engine.form_references) if it names one, else its
        camunda:formData fields."""
        warnings = self.form_warnings.setdefault(self._process_id, [])
        camunda_form = camunda_form_of(element, self.forms, self.filename, self.report,
                                       lambda node, message: warnings.append(
                                           self.problem(node, message)))
        has_form_data = element.find("./bpmn:extensionElements/camunda:formData", NS) is not None
        if camunda_form is not None:
            if has_form_data:
                shown = getattr(camunda_form, "file", None) or getattr(camunda_form, "form_id", "")
                self.report(element, f"the element shows Camunda Form {shown} and "
                                     "also declares camunda:formData; keep one")
            return camunda_form
        fields: list[FieldSpec] = []
        seen: set[str] = set()
        for node in element.iterfind("./bpmn:extensionElements/camunda:formData/camunda:formField", NS):
            spec = self._read_field(element, node)
            if spec is None:
                continue
            if spec.id in seen:
                self.report(element, f"form field {spec.id!r} is declared twice", node.sourceline)
            seen.add(spec.id)
            fields.append(spec)
        return FormSpec(tuple(fields), _external_form(element) if not fields else None)

    def _read_field(self, owner: etree._Element, node: etree._Element) -> FieldSpec | None:
        field_id = node.get("id") or ""
        line = node.sourceline
        if not field_id.isidentifier() or field_id.startswith("_") or keyword.iskeyword(field_id):
            self.report(owner, f"form field id {field_id!r} must be a name usable in expressions "
                               "(letters, digits, underscore; not starting with _ or a digit)", line)
            return None
        field_type = node.get("type") or "string"
        if field_type not in FIELD_TYPES:
            self.report(owner, f"form field {field_id!r} has unsupported type {field_type!r} "
                               f"(use one of {', '.join(FIELD_TYPES)})", line)
            return None
        options = tuple((value.get("id") or "", value.get("name") or value.get("id") or "")
                        for value in node.iterfind("camunda:value", NS))
        if field_type == "enum" and not options:
            self.report(owner, f"enum form field {field_id!r} has no camunda:value options", line)
        constraints: dict[str, str | None] = {}
        for constraint in node.iterfind("camunda:validation/camunda:constraint", NS):
            name = constraint.get("name") or ""
            if name == "validator":
                # Camunda's custom validator is a Java class or bean: left out, as Java
                # listeners are, so the field is checked by its other constraints.
                self.warn(owner, f"form field {field_id!r}: validator "
                                 f"{(constraint.get('config') or '').strip()!r} is Java code, "
                                 "which cannot run in DutyFlow; the field is checked by its "
                                 "other constraints only")
                continue
            if name not in CONSTRAINTS:
                self.report(owner, f"form field {field_id!r}: unknown constraint {name!r} "
                                   f"(known: {', '.join(CONSTRAINTS)})", constraint.sourceline)
            constraints[name] = constraint.get("config")
        try:
            numbers = {name: parse_number(constraints.get(name))
                       for name in ("min", "max", "minlength", "maxlength")}
        except ValueError as err:
            self.report(owner, f"form field {field_id!r}: constraint {err}", line)
            return None
        accept, max_files = self._read_file_properties(owner, node, field_id, field_type)
        return FieldSpec(
            accept=accept, max_files=max_files,
            id=field_id, label=node.get("label") or field_id, type=field_type,
            required="required" in constraints, readonly="readonly" in constraints,
            options=options, minimum=numbers["min"], maximum=numbers["max"],
            min_length=int(numbers["minlength"]) if numbers["minlength"] is not None else None,
            max_length=int(numbers["maxlength"]) if numbers["maxlength"] is not None else None,
            default=node.get("defaultValue"),
            translations=tuple(sorted(labels.element_translations(node).items())),
            option_translations=tuple(
                (option, tuple(sorted(texts.items())))
                for option, texts in sorted(labels.option_translations(node).items())))

    def _read_file_properties(self, owner: etree._Element, node: etree._Element, field_id: str,
                              field_type: str) -> tuple[tuple[str, ...], int]:
        """A file field's `dutyflow:accept` (comma list of media types, `image/*` allowed)
        and `dutyflow:maxFiles` (1 to 100) from its camunda:properties."""
        accept: tuple[str, ...] = ()
        max_files = DEFAULT_MAX_FILES
        for prop in node.iterfind("camunda:properties/camunda:property", NS):
            name, value = prop.get("id") or prop.get("name") or "", (prop.get("value") or "").strip()
            if name not in FILE_PROPERTIES:
                continue
            if field_type != "file":
                self.report(owner, f"form field {field_id!r}: {name} applies to file fields "
                                   "only", prop.sourceline)
            elif name == "dutyflow:accept":
                accept = tuple(part.strip().lower() for part in value.split(",") if part.strip())
                bad = [part for part in accept if not _MEDIA_TYPE.fullmatch(part)]
                if bad or not accept:
                    self.report(owner, f"form field {field_id!r}: dutyflow:accept {value!r} must "
                                       "list media types like image/jpeg or image/*",
                                prop.sourceline)
            elif not value.isdigit() or not 1 <= int(value) <= 100:
                self.report(owner, f"form field {field_id!r}: dutyflow:maxFiles {value!r} must be "
                                   "a whole number from 1 to 100", prop.sourceline)
            else:
                max_files = int(value)
        return accept, max_files

    def _check_gateways(self, process: etree._Element) -> None:
        # Indexed once: looking flows up per gateway made this check quadratic.
        leaving: dict[str, list[etree._Element]] = {}
        for flow in process.iterfind(".//bpmn:sequenceFlow", NS):
            leaving.setdefault(flow.get("sourceRef"), []).append(flow)
        for kind in ("exclusiveGateway", "inclusiveGateway"):
            for gateway in process.iterfind(f".//bpmn:{kind}", NS):
                outgoing = leaving.get(gateway.get("id"), [])
                if len(outgoing) < 2:
                    continue
                for flow in outgoing:
                    if flow.get("id") != gateway.get("default") and \
                            flow.find("bpmn:conditionExpression", NS) is None:
                        self._always_true(gateway, flow, kind)

    def _always_true(self, gateway: etree._Element, flow: etree._Element, kind: str) -> None:
        """A flow without a condition leaving a branching gateway is always true (the BPMN
        spec, Camunda 7): SpiffWorkflow would take it as the default flow instead, so it
        is given the condition `True` where it is drawn, and the deploy warns."""
        which = ("the first flow in the file whose condition holds is taken, so flows "
                 "after it are never taken" if kind == "exclusiveGateway" else
                 "it is taken every time")
        self.warn(flow, f"flow leaving gateway {gateway.get('id')!r} has no condition and is "
                        f"not the gateway's default flow: it counts as always true ({which}), "
                        "as in Camunda")
        condition = etree.SubElement(flow, f"{{{BPMN_NS}}}conditionExpression")
        condition.text = "True"

    def _check_conditions(self, process: etree._Element) -> None:
        """Flows' conditions, and conditional events' (engine.conditional_events)."""
        for definition in process.iterfind(".//bpmn:conditionalEventDefinition", NS):
            if not (definition.findtext("bpmn:condition", "", NS) or "").strip():
                self.report(definition.getparent(), "conditional event has no condition",
                            definition.sourceline)
        conditions = [*process.iterfind(".//bpmn:conditionExpression", NS),
                      *(condition for condition in process.iterfind(
                          ".//bpmn:conditionalEventDefinition/bpmn:condition", NS)
                        if (condition.text or "").strip())]
        for condition in conditions:
            flow = condition.getparent()
            if etree.QName(flow).localname == "conditionalEventDefinition":
                flow = flow.getparent()
            language = self._language(condition)
            if language is not expressions.Language.PYTHON:
                self._check_expression(flow, condition, "condition", language)
                continue
            text = sandbox.unwrap(condition.text or "")
            if not text:
                self.report(flow, "condition is empty", condition.sourceline)
                continue
            try:
                sandbox.check_expression(text)
            except sandbox.SandboxError as err:
                self.report(flow, f"condition {text!r}: {err}{_language_hint(text, err)}",
                            condition.sourceline)
            condition.text = text

    def _check_multi_instance(self, process: etree._Element) -> None:
        """Loop cardinality and completion condition, in any of the expression languages;
        the collection of a script task, service task or subprocess (a person's duties are
        checked as countersigns)."""
        for loop in process.iterfind(".//bpmn:multiInstanceLoopCharacteristics", NS):
            owner = loop.getparent()
            if etree.QName(owner).localname not in ("userTask", "manualTask") and \
                    loop.get(f"{{{CAMUNDA_NS}}}collection") is not None:
                self._check_collection(owner, loop, etree.QName(owner).localname)
            for child in loop:
                kind = etree.QName(child).localname if isinstance(child.tag, str) else ""
                if kind in ("loopCardinality", "completionCondition") \
                        and (child.text or "").strip():
                    self._check_expression(loop.getparent(), child, kind, self._language(child))

    def _language(self, node: etree._Element) -> expressions.Language:
        """The language of a condition or multi-instance expression: its own `language`,
        else the definitions' `expressionLanguage`, else its syntax (expressions.choose)."""
        own = expressions.declared_bpmn_language(node.get("language"))
        return expressions.choose(node.text or "", own, self.declared_language)

    def _check_expression(self, owner: etree._Element, node: etree._Element, what: str,
                          language: expressions.Language, wrap: str = "{}") -> None:
        """Check one expression and store it in the form the engine evaluates (see
        expressions.canonical). JUEL, FEEL and XPath errors name the line and column."""
        written = node.text or ""
        text = written.strip()
        if language is not expressions.Language.PYTHON and text in ("", "=", "${}", "#{}"):
            self.report(owner, f"{what} is empty", node.sourceline)
            return
        prefixes = frozenset(prefix for prefix, uri in node.nsmap.items()
                             if prefix and uri == BPMN_NS)
        try:
            expressions.check(written, language, prefixes)
        except sandbox.SandboxError as err:
            line = node.sourceline + written[:len(written) - len(written.lstrip())].count("\n")
            if isinstance(err, expressions.ExpressionSyntaxError) and err.line:
                line += err.line - 1
            self.report(owner, f"{what} {text!r} ({language.value}): {err}", line)
            return
        canonical = expressions.canonical(written, language, prefixes)
        if language is expressions.Language.FEEL:
            canonical = "=" + wrap.format(canonical[1:])
        node.text = canonical

    def _check_scripts(self, process: etree._Element) -> None:
        for task in process.iterfind(".//bpmn:scriptTask", NS):
            if task.find("bpmn:extensionElements/zeebe:taskDefinition", NS) is not None:
                continue  # a Camunda 8 job: it waits for a worker (engine.external_tasks)
            if task.find("bpmn:script", NS) is None and \
                    task.find("bpmn:extensionElements/zeebe:script", NS) is not None:
                # Camunda 8's FEEL script: its value is the task's result, written as it
                # ends (engine.io_mapping); the Python script SpiffWorkflow runs does nothing.
                task.set("scriptFormat", "python")
                etree.SubElement(task, f"{{{BPMN_NS}}}script").text = "pass"
                continue
            script_format = (task.get("scriptFormat") or "").strip().lower()
            translated = script_languages.for_format(script_format)
            if script_format not in SCRIPT_FORMATS and translated is None:
                self.report(task, f"script format {task.get('scriptFormat')!r} is not supported; "
                                  "scripts are sandboxed Python, JavaScript or Groovy")
                continue
            script = task.find("bpmn:script", NS)
            if script is None or not (script.text or "").strip():
                self.report(task, "script task has no script")
                continue
            source = _dedent(script.text)
            first_line = script.sourceline + _leading_lines(script.text)
            try:
                if translated is not None:
                    translated.check_script(source)
                else:
                    sandbox.check_script(source)
            except sandbox.SandboxError as err:
                line = first_line + (err.line - 1 if err.line else 0)
                language = f" ({translated.name})" if translated else ""
                self.report(task, f"script{language}: {err}", line)
                continue
            result = _camunda(task, "resultVariable")
            if result and not _is_variable_name(result):
                self.report(task, f"camunda:resultVariable {result!r} is not a usable variable name")
            elif result and translated is None:
                self.warn(task, "camunda:resultVariable is ignored for Python scripts: assign "
                                "the variable in the script")
            if translated is not None:
                source = translated.stored(source, result)
            script.text = source

    def _check_timers(self, process: etree._Element) -> None:
        for definition in process.iterfind(".//bpmn:timerEventDefinition", NS):
            event = definition.getparent()
            timer_texts = [child for child in definition
                           if etree.QName(child).localname in TIMER_KINDS]
            if not timer_texts:
                self.report(event, "timer has no timeDuration, timeDate or timeCycle")
            for child in timer_texts:
                kind = etree.QName(child).localname
                # A timer's literal ISO text is not FEEL, whatever the definitions declare.
                language = expressions.detect(child.text or "")
                if language is not expressions.Language.PYTHON:
                    # SpiffWorkflow reads the timer from text: FEEL's dates and durations as ISO.
                    self._check_expression(event, child, kind, language, wrap="string({})")
                    continue
                problem = deadlines.check_timer(kind, child.text or "")
                if problem:
                    self.report(event, f"{kind}: {problem}", child.sourceline)
                else:
                    child.text = deadlines.timer_expression(child.text)


def _language_hint(text: str, err: sandbox.SandboxError) -> str:
    """For a condition that is not Python but reads as FEEL (written for Camunda 8 or a DMN
    tool without declaring it), say how to make it FEEL; likewise for XPath calling BPMN's
    functions (only a declaration makes XPath, see expressions.choose)."""
    if not isinstance(err, sandbox.SandboxSyntaxError):
        return ""
    if "bpmn:" in text:
        try:
            expressions.check(text, expressions.Language.XPATH)
        except sandbox.SandboxError:
            return ""
        return ('; it reads as XPath: declare language="http://www.w3.org/1999/XPath" on '
                "the condition or expressionLanguage on the definitions")
    try:
        expressions.check("=" + text)
    except sandbox.SandboxError:
        return ""
    return ("; it reads as FEEL: write it as '=...' or declare "
            'expressionLanguage="https://www.omg.org/spec/FEEL/20140401"')


def _counted_kind(localname: str) -> str | None:
    """Which element limit a BPMN element counts against, if any."""
    if localname == "sequenceFlow":
        return "sequence flows"
    if localname == "lane":
        return "lanes"
    if localname in ("task", *_SUBPROCESS_KINDS) or \
            localname.endswith(("Task", "Event", "Gateway")):
        return "flow nodes"
    return None


FOLLOW_UPS = {"dutyflow:remindAfter": "remind_after", "dutyflow:escalateAfter": "escalate_after"}


def _follow_up_properties(task: etree._Element) -> list[tuple[str, str, int]]:
    """(name, value, line) of the task's `dutyflow:remindAfter`/`escalateAfter` properties."""
    return [(node.get("name"), (node.get("value") or "").strip(), node.sourceline)
            for node in task.iterfind("./bpmn:extensionElements/camunda:properties/"
                                      "camunda:property", NS)
            if node.get("name") in FOLLOW_UPS]


def properties_of(element: etree._Element) -> tuple[tuple[str, str], ...]:
    """The element's own `camunda:properties` (Zeebe's `zeebe:properties` too), as
    (name, value) in document order: shown with its tasks, as Camunda's task properties.

    The properties DutyFlow reads itself (label translations, follow-up intervals) are
    settings of the diagram, not facts about the task, so they are left out."""
    found = []
    for path in ("./bpmn:extensionElements/camunda:properties/camunda:property",
                 "./bpmn:extensionElements/zeebe:properties/zeebe:property"):
        for node in element.iterfind(path, NS):
            name = (node.get("name") or "").strip()
            if name and not _read_by_dutyflow(name):
                found.append((name, node.get("value") or ""))
    return tuple(found)


def _read_by_dutyflow(name: str) -> bool:
    return name.startswith(labels.PREFIX) or name in FOLLOW_UPS


def follow_ups(task: etree._Element) -> dict[str, str]:
    """The duty's reminder and escalation intervals, as DutySpec fields."""
    return {FOLLOW_UPS[name]: value for name, value, _ in _follow_up_properties(task)}


def _duties_of(process: etree._Element):
    """The elements that are a person's duty: user tasks, and manual tasks (work done by
    hand, outside any system, that the owning department confirms with a "done")."""
    for task in process.iter(f"{{{BPMN_NS}}}userTask", f"{{{BPMN_NS}}}manualTask"):
        yield task


def candidate_groups(task: etree._Element) -> tuple[str, ...]:
    """The literal candidate groups (none when the attribute is an expression)."""
    if people.is_expression(_camunda(task, "candidateGroups")):
        return ()
    return _names(task, "candidateGroups")


def _read_zeebe_assignment(task: etree._Element) -> None:
    """Camunda 8's `zeebe:assignmentDefinition` (assignee, candidateGroups, candidateUsers:
    a FEEL `=expression` or literal comma lists) read as the Camunda 7 attributes, in the
    tree that is checked and compiled (the stored file keeps what was drawn). A Camunda 7
    attribute the task also has wins."""
    definition = task.find("bpmn:extensionElements/zeebe:assignmentDefinition", NS)
    if definition is None:
        return
    for attribute in ASSIGNMENT:
        value = (definition.get(attribute) or "").strip()
        if value and _camunda(task, attribute) is None:
            task.set(f"{{{CAMUNDA_NS}}}{attribute}", value)


def _is_variable(name: str) -> bool:
    """A name usable as a process variable in expressions."""
    return name.isidentifier() and not name.startswith("_") and not keyword.iskeyword(name)


def _camunda(element: etree._Element, attribute: str) -> str | None:
    """A Camunda attribute's text, None when absent or blank."""
    value = (element.get(f"{{{CAMUNDA_NS}}}{attribute}") or "").strip()
    return value or None


def _names(element: etree._Element, attribute: str) -> tuple[str, ...]:
    """A Camunda comma list (`camunda:candidateGroups="qa, legal"`), blanks dropped."""
    raw = element.get(f"{{{CAMUNDA_NS}}}{attribute}") or ""
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def _lane_of_nodes(process: etree._Element) -> dict[str, str]:
    """Innermost lane name for each flow node; nested lanes refine their parent."""
    owner: dict[str, str] = {}
    for lane in process.iterfind(".//bpmn:lane", NS):
        name = (lane.get("name") or "").strip()
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            owner[(ref.text or "").strip()] = name
    return owner


def _external_form(element: etree._Element) -> str | None:
    """A user task's `camunda:formKey` naming a form DutyFlow cannot read (an embedded or
    app HTML form); Camunda Forms (`camunda-forms:`) are not such forms."""
    if etree.QName(element).localname != "userTask":
        return None
    key = _camunda(element, "formKey")
    return key if key and not key.startswith("camunda-forms:") else None


def _dedent(script: str) -> str:
    return textwrap.dedent(script).strip("\n")


def _is_variable_name(name: str) -> bool:
    return name.isidentifier() and not name.startswith("_")


def _leading_lines(script: str) -> int:
    """How many lines of a script's text come before its first written line (see _dedent)."""
    dedented = textwrap.dedent(script)
    return len(dedented) - len(dedented.lstrip("\n")) if script.strip() else 0


def _compile(root: etree._Element, processes: list[etree._Element],
             forms: dict[str, dict[str, FormSpec]],
             external: dict[str, tuple[dict[str, ExternalSpec], tuple[Problem, ...]]],
             checker: _Checker, default_owner: str | None,
             called: dict[str, dict[str, call_activities.CallSpec]]) -> list[ProcessModel]:
    """Compile every executable process with one SpiffWorkflow parser: the parser indexes
    the whole document, so a parser per process would make loading quadratic."""
    lines = {element.get("id"): element.sourceline for element in root.iter()
             if isinstance(element.tag, str) and element.get("id")}
    parser = DutyFlowParser()
    compiled = []
    with _spiff_problems(checker, lines, processes[0]):
        parser.add_bpmn_xml(root, checker.filename)
    checker.raise_if_any()
    for process in processes:
        with _spiff_problems(checker, lines, process):
            compiled.append((process, parser.get_spec(process.get("id")),
                             parser.get_subprocess_specs(process.get("id"))))
    checker.raise_if_any()
    for _, spec, subprocess_specs in compiled:
        for one in (spec, *subprocess_specs.values()):
            _merge_message_data(one)
            _pass_through_undefined_tasks(one)
            start_event_subprocesses_with_their_scope(one)
            cron_cycles_in_place(one)
            watch_in_place(one)
    return [_model(process, spec, subprocess_specs, forms[process.get("id")],
                   *external[process.get("id")], default_owner, called[process.get("id")])
            for process, spec, subprocess_specs in compiled]


def _pass_through_undefined_tasks(spec) -> None:
    """A task of no kind (`bpmn:task`: MIWG's and Camunda 8's examples draw them) passes
    straight through, as in Camunda 7 and 8; SpiffWorkflow would wait at it for a person
    nobody owns. (Business rule tasks compiled as plain ones decide: engine.business_rules.)"""
    for task_spec in spec.task_specs.values():
        if type(task_spec) is NoneTask:
            task_spec.manual = False


class MergedMessage(CamundaMessageEventDefinition):
    """A message event whose data becomes process variables where it is caught, as a
    message correlated in Camunda sets variables (and as a receive task already does);
    SpiffWorkflow's Camunda flavour would put it all in one `<element>_Response` variable."""

    def update_internal_data(self, my_task, event) -> None:
        my_task.internal_data[self.name] = event.payload

    def update_task_data(self, my_task) -> None:
        payload = my_task.internal_data.get(self.name)
        if isinstance(payload, dict):
            my_task.data.update(payload)


def _merge_message_data(spec) -> None:
    for task_spec in spec.task_specs.values():
        definition = getattr(task_spec, "event_definition", None)
        # An event-based gateway holds the definitions of the events after it.
        for one in [definition, *getattr(definition, "event_definitions", ())]:
            if type(one) is CamundaMessageEventDefinition:
                one.__class__ = MergedMessage


@contextmanager
def _spiff_problems(checker: _Checker, lines: dict[str, int], process: etree._Element):
    """SpiffWorkflow's exceptions, recorded as located problems instead of escaping."""
    try:
        yield
    except ValidationException as err:
        element_id = getattr(err, "id", "") or None
        checker.problems.append(Problem(checker.filename, lines.get(element_id), element_id,
                                        str(err.args[0]) if err.args else "invalid BPMN"))
    except Exception as err:  # the library raises bare KeyError/TypeError on some invalid files
        checker.report(process, f"SpiffWorkflow could not compile the process: "
                                f"{type(err).__name__}: {err}")


def _model(process: etree._Element, spec, subprocess_specs, forms: dict[str, FormSpec],
           external: dict[str, ExternalSpec], warnings: tuple[Problem, ...],
           default_owner: str | None,
           called: dict[str, call_activities.CallSpec]) -> ProcessModel:
    process_id = process.get("id")
    wait_for_workers([spec, *subprocess_specs.values()], [*external, *called])
    lanes = _lane_of_nodes(process)
    duties = {}
    for task in _duties_of(process):
        element_id = task.get("id")
        lane, groups = lanes.get(element_id), candidate_groups(task)
        group_expression = _camunda(task, "candidateGroups") \
            if people.is_expression(_camunda(task, "candidateGroups")) else None
        names_person = _camunda(task, "assignee") or _camunda(task, "candidateUsers")
        if not lane and not groups and not names_person and not group_expression \
                and default_owner:
            groups = (default_owner,)  # owned as if it named the department as its group
        duties[element_id] = DutySpec(
            element_id=element_id, name=task.get("name") or element_id,
            lane=lane, candidate_groups=groups,
            due_date=task.get(f"{{{CAMUNDA_NS}}}dueDate"), form=forms[element_id],
            assignee=_camunda(task, "assignee"),
            candidate_users=_camunda(task, "candidateUsers"),
            group_expression=group_expression, properties=properties_of(task),
            **follow_ups(task))
    starts = process.findall("bpmn:startEvent", NS)
    start_with_form = next((start.get("id") for start in starts
                            if forms.get(start.get("id")) and forms[start.get("id")].fields), None)
    start_form = forms[start_with_form] if start_with_form else FormSpec()
    start_lanes = tuple(dict.fromkeys(lanes[start.get("id")] for start in starts
                                      if lanes.get(start.get("id"))))
    return ProcessModel(key=process_id, name=process.get("name") or process_id, spec=spec,
                        subprocess_specs=subprocess_specs, duties=duties, start_form=start_form,
                        start_form_element=start_with_form,
                        starter_groups=_names(process, "candidateStarterGroups"),
                        starter_users=_names(process, "candidateStarterUsers"),
                        start_lanes=start_lanes, external=external, warnings=warnings,
                        initiator=next((_camunda(start, "initiator") for start in starts
                                        if _camunda(start, "initiator")), None),
                        labels=labels.document_translations(process),
                        calls=called, loop_outputs=loop_outputs(process),
                        event_subprocesses=_event_subprocesses(process),
                        conditional_events=tuple(
                            definition.getparent().get("id") for definition in
                            process.iterfind(".//bpmn:conditionalEventDefinition", NS)))


def loop_outputs(process: etree._Element) -> dict[str, tuple[str, str]]:
    """Camunda 8 multi-instance results: {element id: (outputCollection, outputElement as
    FEEL)}; each instance's outputElement goes in the list at its item's position."""
    found = {}
    for zeebe in process.iterfind(".//bpmn:multiInstanceLoopCharacteristics/"
                                  f"bpmn:extensionElements/{{{ZEEBE_NS}}}loopCharacteristics", NS):
        output = (zeebe.get("outputCollection") or "").strip()
        element = (zeebe.get("outputElement") or "").strip()
        if output and element:
            found[zeebe.getparent().getparent().getparent().get("id")] = (
                output, element if element.startswith("=") else "=" + element)
    return found


def _event_subprocesses(process: etree._Element) -> dict[str, bool]:
    """The event subprocesses of the process and its subprocesses, each with whether its
    start interrupts."""
    found = {}
    for subprocess in process.iterfind(".//bpmn:subProcess[@triggeredByEvent='true']", NS):
        start = subprocess.find("bpmn:startEvent", NS)
        interrupting = start is None or \
            (start.get("isInterrupting") or "true").strip().lower() != "false"
        found[subprocess.get("id")] = interrupting
    return found

