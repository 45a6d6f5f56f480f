"""Which Camunda Form a user task or start event shows, resolved when the diagram deploys.

Camunda 7: `camunda:formKey="camunda-forms:deployment:task.form"` (or `camunda-forms:app:`)
names a `.form` file of the deployment; `camunda:formRef="id"` a form by its schema's `id`,
with `camunda:formRefBinding` `latest` or `deployment` (both mean the form deployed with
this version: DutyFlow versions forms with the diagram, as it does decisions) or
`versionTag` (`camunda:formRefVersion` must equal the schema's `versionTag`). Binding
`version` (Camunda's own form-version counter) has no meaning here and is refused.
Camunda 8: `zeebe:formDefinition formId="id"`, or `formKey="camunda-forms:bpmn:X"` naming
the `zeebe:userTaskForm id="X"` whose text is the schema, embedded in the process (or
`externalReference="X"` naming it, as Camunda Modeler rewrites the key of a Camunda user
task).

A form that is not there is a deploy error at the element's line, never a surprise when
the task is opened, with one exception taken from Camunda: a user task naming a form by
id with the "latest" binding (`zeebe:formDefinition formId`, `camunda:formRef` without
a binding or with `latest`) deploys with a warning, and shows the latest deployed form of
that id (from any deployment, given to the loader as `latest` files). With none deployed
it shows an UndeployedForm, which refuses every completion until one is: a form is the
only check of what a person enters, so it is never skipped. Other form keys (`embedded:app:...html`, external references) are
pages DutyFlow does not serve: the element keeps its camunda:formData form, if any, and
the deploy answer warns.
"""
from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence

from lxml import etree

from dataclasses import dataclass
from typing import Any

from .camunda_forms import CamundaForm, FormFileError, read_form_file, read_form_text
from .errors import FormValidationError, Problem
from .forms import FormSpec

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
BINDINGS = ("latest", "deployment", "versionTag")

Report = Callable[[etree._Element, str], None]


@dataclass(frozen=True)
class UndeployedForm(FormSpec):
    """The form of a user task naming, with the "latest" binding, a form id no deployment
    holds: the task shows the problem and every completion is refused (the task waits)
    until a form of that id is deployed."""

    form_id: str = ""

    @property
    def problem(self) -> str:
        return (f"form {self.form_id!r} is not deployed: deploy a .form file with that id, "
                "then the task shows it and can be completed")

    def as_dict(self, locale: str | None = None) -> dict[str, Any]:
        return {"fields": [], "undeployed_form": {"id": self.form_id, "problem": self.problem}}

    def validate(self, data: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        raise FormValidationError({"_schema": [self.problem]})


class FormCatalog:
    """The forms of one deployment, by file name and by schema id; and `latest`, the
    latest deployed forms (of other deployments) holding ids it lacks, by id."""

    def __init__(self, files: Sequence[tuple[str, bytes]],
                 latest: Sequence[tuple[str, bytes]] = ()):
        self.latest_by_id: dict[str, CamundaForm] = {}
        for name, source in latest:
            try:
                form = read_form_file(name, source)
            except FormFileError:
                continue  # it deployed once; a broken one is as good as none
            if form.form_id:
                self.latest_by_id.setdefault(form.form_id, form)
        # The ids looked up among the latest deployed forms: the model's missing_forms.
        self.missing: set[str] = set()
        self.problems: list[Problem] = []
        self.by_file: dict[str, CamundaForm] = {}
        self.by_id: dict[str, CamundaForm] = {}
        for name, source in files:
            try:
                form = read_form_file(name, source)
            except FormFileError as err:
                self.problems.extend(err.problems)
                continue
            self.by_file[posixpath.basename(name.replace("\\", "/"))] = form
            if form.form_id:
                if form.form_id in self.by_id:
                    self.problems.append(Problem(name, None, form.form_id,
                                                 f"form id {form.form_id!r} is also the id of "
                                                 f"{self.by_id[form.form_id].file}"))
                self.by_id.setdefault(form.form_id, form)

    @property
    def broken(self) -> bool:
        """With a broken file, which forms exist is unknown: its problems say enough."""
        return bool(self.problems)

    def latest(self, element: etree._Element, form_id: str, what: str,
               warn: Report) -> FormSpec:
        """The latest deployed form `form_id` for a user task whose deployment lacks it
        (Camunda's "latest" binding), warned about at the element."""
        self.missing.add(form_id)
        warn(element, f"{what} {form_id!r} is not in the deployment: the latest deployed "
                      "form with that id is shown when the task is opened, and with none "
                      "deployed the task cannot be completed until one is")
        return self.latest_by_id.get(form_id) or UndeployedForm(form_id=form_id)


def _is_user_task(element: etree._Element) -> bool:
    """Only a user task waits for its form: a start form must come with the diagram."""
    return etree.QName(element).localname == "userTask"


def _camunda(element: etree._Element, name: str) -> str | None:
    return (element.get(f"{{{CAMUNDA_NS}}}{name}") or "").strip() or None


def camunda_form_of(element: etree._Element, catalog: FormCatalog, filename: str,
                    report: Report, warn: Report) -> FormSpec | None:
    """The Camunda Form the element shows (or an UndeployedForm), None when it names none
    (or one that could not be read: then a problem was reported)."""
    form_key, form_ref = _camunda(element, "formKey"), _camunda(element, "formRef")
    zeebe = element.find(f"{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}formDefinition")
    if form_ref is not None:
        return _by_ref(element, form_ref, catalog, report, warn)
    if form_key is not None:
        if form_key.startswith("camunda-forms:"):
            scheme, _, path = form_key[len("camunda-forms:"):].partition(":")
            if scheme not in ("deployment", "app") or not path:
                report(element, f"form key {form_key!r}: write camunda-forms:deployment:"
                                "FILE.form (or camunda-forms:app:FILE.form)")
                return None
            return _by_file(element, form_key, path, catalog, report)
        warn(element, f"form key {form_key!r} names a page DutyFlow does not serve; the "
                      "task shows its camunda:formData fields (or a plain Done)")
        return None
    if zeebe is not None:
        return _zeebe(element, zeebe, catalog, filename, report, warn)
    return None


def _by_ref(element: etree._Element, form_ref: str, catalog: FormCatalog,
            report: Report, warn: Report) -> FormSpec | None:
    binding = _camunda(element, "formRefBinding") or "latest"
    if binding not in BINDINGS:
        report(element, f"camunda:formRefBinding {binding!r} is not supported: forms are "
                        "versioned with the diagram (use latest, deployment or versionTag)")
        return None
    if catalog.broken:
        return None
    form = catalog.by_id.get(form_ref)
    if form is None and binding == "latest" and _is_user_task(element):
        return catalog.latest(element, form_ref, "camunda:formRef", warn)
    if form is None:
        known = ", ".join(sorted(catalog.by_id)) or "none"
        report(element, f"form {form_ref!r} is not in the deployment: deploy its .form file "
                        f"with the diagram (form ids deployed: {known})")
        return None
    if binding == "versionTag":
        wanted = _camunda(element, "formRefVersion")
        tag = form.schema_dict.get("versionTag")
        if wanted is None or wanted != tag:
            report(element, f"form {form_ref!r} has versionTag {tag!r}, not the "
                            f"camunda:formRefVersion {wanted!r} asked for")
            return None
    return form


def _by_file(element: etree._Element, form_key: str, path: str, catalog: FormCatalog,
             report: Report) -> CamundaForm | None:
    if catalog.broken:
        return None
    form = catalog.by_file.get(posixpath.basename(path))
    if form is None:
        known = ", ".join(sorted(catalog.by_file)) or "none"
        report(element, f"form key {form_key!r}: {posixpath.basename(path)} is not in the "
                        f"deployment: deploy it with the diagram (forms deployed: {known})")
    return form


def _zeebe(element: etree._Element, definition: etree._Element, catalog: FormCatalog,
           filename: str, report: Report, warn: Report) -> FormSpec | None:
    form_id = (definition.get("formId") or "").strip()
    form_key = (definition.get("formKey") or "").strip()
    if form_id:
        if catalog.broken:
            return None
        form = catalog.by_id.get(form_id)
        if form is None and (definition.get("bindingType") or "latest") == "latest" \
                and _is_user_task(element):
            return catalog.latest(element, form_id, "zeebe:formDefinition formId", warn)
        if form is None:
            report(element, f"zeebe:formDefinition formId {form_id!r} is not in the "
                            "deployment: deploy its .form file with the diagram")
        return form
    reference = (definition.get("externalReference") or "").strip()
    if form_key.startswith("camunda-forms:bpmn:"):
        embedded_id = form_key[len("camunda-forms:bpmn:"):]
        node = _embedded_form(element, embedded_id)
        if node is None:
            report(element, f"zeebe:formDefinition formKey {form_key!r}: no "
                            f"zeebe:userTaskForm with id {embedded_id!r} in the file")
            return None
        return _read_embedded(element, node, filename, report)
    # Camunda Modeler turns an embedded form's formKey into an externalReference naming it
    # when a task becomes a Camunda user task (zeebe:userTask): the form is still the file's.
    node = _embedded_form(element, reference) if reference else None
    if node is not None:
        return _read_embedded(element, node, filename, report)
    if form_key or reference:
        warn(element, f"zeebe:formDefinition {form_key or reference!r} "
                      "names a form DutyFlow does not serve; the task shows a plain Done")
        return None
    report(element, "zeebe:formDefinition needs formId or formKey")
    return None


def _embedded_form(element: etree._Element, embedded_id: str) -> etree._Element | None:
    """The file's `zeebe:userTaskForm` of this id, if any."""
    root = element.getroottree().getroot()
    return next((node for node in root.iter(f"{{{ZEEBE_NS}}}userTaskForm")
                 if node.get("id") == embedded_id), None)


def _read_embedded(element: etree._Element, node: etree._Element, filename: str,
                   report: Report) -> CamundaForm | None:
    embedded_id = node.get("id")
    try:
        return read_form_text(f"{filename}#{embedded_id}", node.text or "",
                              (node.sourceline or 1) - 1)
    except FormFileError as err:
        for problem in err.problems:
            report(element, f"zeebe:userTaskForm {embedded_id!r}: {problem.message}")
        return None
