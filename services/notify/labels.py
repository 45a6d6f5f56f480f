"""The translations a notification carries, so it reads in its recipient's language.

A message is rendered when it is shown or sent, from the payload stored with it
(services.notify.messages), possibly in a Celery worker that never compiled the process.
So the payload carries the translations itself: the task's and the process's
`i18n:<language>` labels as the diagram drew them (engine.labels), and the department's
own name (services.org.department_names). Taken from the compiled model when the Store
has it (a step always has), else read from the deployed diagram's XML.
"""
from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select

from engine.labels import BPMN_NS, document_translations
from engine.loader import MAX_BPMN_BYTES
from engine.safe_xml import parse_safely
from services.persistence.models import ProcessDefinition, ProcessInstance
from services.persistence.unit_of_work import UnitOfWork

Translations = Mapping[str, Mapping[str, str]]  # element id -> {language tag: text}


def process_translations(uow: UnitOfWork, instance_id: int | None) -> Translations:
    """{element id: {language tag: text}} of the instance's process version; the process's
    own under its key. Empty for an unknown instance."""
    if instance_id is None:
        return {}
    row = uow.session.execute(
        select(ProcessDefinition.id, ProcessDefinition.checksum, ProcessDefinition.key)
        .join(ProcessInstance, ProcessInstance.definition_id == ProcessDefinition.id)
        .where(ProcessInstance.id == instance_id)).first()
    if row is None:
        return {}
    model = uow.models.get((row.checksum, row.key))
    if model is not None:
        return model.labels
    xml = uow.session.scalar(select(ProcessDefinition.bpmn_xml)
                             .where(ProcessDefinition.id == row.id))
    root = parse_safely(xml.encode("utf-8"), "deployed diagram", MAX_BPMN_BYTES)
    process = next((element for element in root.iter(f"{{{BPMN_NS}}}process")
                    if element.get("id") == row.key), None)
    return document_translations(process) if process is not None else {}
