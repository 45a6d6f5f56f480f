"""Names in the reader's language: the translations a diagram draws (engine.labels) for its
process, elements, form fields and options, and the departments' own names.

Pages ask for a `Labels` for the rows they show and the page's locale; the API keeps the
names as drawn. Models come from the Store's model cache, one per deployed version.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlalchemy import select

from engine.labels import localized_xml
from engine.model import ProcessModel
from services.org.department_names import department_in_language, own_names
from services.persistence.models import ProcessDefinition, ProcessInstance
from services.persistence.unit_of_work import UnitOfWork
from services.workflow.definitions import list_latest, model_of


@dataclass
class Labels:
    """Translated names for one page: the instances' versions and the latest of each key."""

    locale: str | None
    by_instance: dict[int, ProcessModel] = field(default_factory=dict)
    by_key: dict[str, ProcessModel] = field(default_factory=dict)
    department_names: dict[str, str] = field(default_factory=dict)

    def element(self, instance_id: int | None, element_id: str, drawn: str) -> str:
        model = self.by_instance.get(instance_id)
        return model.label(element_id, self.locale, drawn) if model else drawn

    def task(self, task: Any) -> str:
        """A task, task event or their JSON view: its name in the reader's language."""
        get = task.get if isinstance(task, dict) else lambda name: getattr(task, name, None)
        drawn = get("name") or get("task_name") or get("element_id")
        return self.element(get("process_instance_id"), get("element_id"), drawn)

    def step(self, process_key: str, element_id: str, drawn: str) -> str:
        """A step of a process's latest version (org chart, duty matrix)."""
        model = self.by_key.get(process_key)
        return model.label(element_id, self.locale, drawn) if model else drawn

    def process(self, key: str, drawn: str | None = None) -> str:
        model = self.by_key.get(key)
        drawn = drawn or (model.name if model else key)
        return model.label(key, self.locale, drawn) if model else drawn

    def department(self, key: str | None, drawn: str | None = None) -> str:
        """A department in the reader's language (services.org.department_names): on
        Chinese pages its own name (质量部); elsewhere the lane it was drawn as, or its key."""
        return department_in_language(key, self.department_names.get(key or ""), self.locale,
                                      drawn)

    def form(self, instance_id: int | None, element_id: str) -> dict[str, Any]:
        """The task's form (FormSpec.as_dict) with labels in the reader's language."""
        model = self.by_instance.get(instance_id)
        duty = model.duties.get(element_id) if model else None
        return duty.form.as_dict(self.locale) if duty else {"fields": []}


def labels_for(uow: UnitOfWork, locale: str | None, instance_ids: Iterable[int] = (),
               all_processes: bool = True) -> Labels:
    """Labels for the given instances' elements and (with `all_processes`) every
    process's latest version."""
    labels = Labels(locale, department_names=own_names(uow))
    wanted = set(instance_ids)
    if wanted:
        rows = uow.session.execute(
            select(ProcessInstance.id, ProcessDefinition)
            .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
            .where(ProcessInstance.id.in_(wanted))).all()
        models: dict[int, ProcessModel] = {}
        for instance_id, definition in rows:
            if definition.id not in models:
                models[definition.id] = model_of(uow, definition)
            labels.by_instance[instance_id] = models[definition.id]
    if all_processes:
        labels.by_key = {definition.key: model_of(uow, definition)
                         for definition in list_latest(uow)}
    return labels


def localized_diagram(xml: str, locale: str | None) -> str:
    """A deployed diagram's XML with its names in `locale`, for the pages' viewer."""
    return localized_xml(xml, locale)
