"""Labels in the reader's language, drawn into the diagram as Camunda extension properties.

A diagram names its elements in one language; translations ride along as properties
named `i18n:<language tag>`:

    <bpmn:userTask id="inspect_goods" name="Inspect goods">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="i18n:zh-CN" value="检验来货" />

on any element (process, lane, task, event, gateway, flow), and on a form field
(`camunda:formField` holds its own `camunda:properties`): `i18n:zh-CN` translates the
field's label and `i18n:zh-CN:<option id>` one of an enum field's options. A reader whose
language has no translation sees the drawn name.
"""
from __future__ import annotations

from typing import Mapping

from lxml import etree

PREFIX = "i18n:"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_PROPERTY = f"{{{CAMUNDA_NS}}}property"
_PROPERTIES = f"{{{CAMUNDA_NS}}}properties"
_EXTENSIONS = f"{{{BPMN_NS}}}extensionElements"

Translations = Mapping[str, str]  # normalised language tag ("zh-cn") -> text


def language_tag(text: str) -> str:
    """`zh_CN`, `zh-CN` and `ZH-cn` are one tag: compared lower case with hyphens."""
    return text.strip().replace("_", "-").lower()


def pick(translations: Translations | None, locale: str | None, fallback: str) -> str:
    """The text for `locale` (`zh-CN`, or Babel's `zh`), else for its language alone or
    any region of it (`zh` finds `zh-CN`), else `fallback`, the drawn name."""
    if not translations or not locale:
        return fallback
    wanted = language_tag(locale)
    if wanted in translations:
        return translations[wanted]
    language = wanted.split("-")[0]
    for tag, text in sorted(translations.items()):
        if tag == language or tag.split("-")[0] == language:
            return text
    return fallback


def _own_properties(holder: etree._Element) -> list[etree._Element]:
    """The `camunda:property` elements of an element's extensions (or, for a form field,
    its own `camunda:properties`), not those of nested elements."""
    found = []
    for container in (holder, *holder.iterchildren(_EXTENSIONS)):
        for properties in container.iterchildren(_PROPERTIES):
            found.extend(properties.iterchildren(_PROPERTY))
    return found


def _property_name(node: etree._Element) -> str:
    """A property's name: `name` on elements, `id` on form fields (as Camunda Modeler
    writes each)."""
    return node.get("name") or node.get("id") or ""


def element_translations(element: etree._Element) -> dict[str, str]:
    """`i18n:<tag>` properties of a BPMN element or form field: {tag: text}; option
    translations (`i18n:<tag>:<option>`) are left to option_translations."""
    out: dict[str, str] = {}
    for node in _own_properties(element):
        name, value = _property_name(node), (node.get("value") or "").strip()
        if name.startswith(PREFIX) and value and ":" not in name[len(PREFIX):]:
            out[language_tag(name[len(PREFIX):])] = value
    return out


def option_translations(field: etree._Element) -> dict[str, dict[str, str]]:
    """An enum field's `i18n:<tag>:<option id>` properties: {option id: {tag: text}}."""
    out: dict[str, dict[str, str]] = {}
    for node in _own_properties(field):
        name, value = _property_name(node), (node.get("value") or "").strip()
        if not name.startswith(PREFIX) or not value:
            continue
        tag, _, option = name[len(PREFIX):].partition(":")
        if option:
            out.setdefault(option, {})[language_tag(tag)] = value
    return out


def document_translations(process: etree._Element) -> dict[str, dict[str, str]]:
    """{element id: translations} for the process and every element in it that has any."""
    out = {}
    for element in process.iter(f"{{{BPMN_NS}}}*"):
        if element.get("id"):
            found = element_translations(element)
            if found:
                out[element.get("id")] = found
    return out


def localized_xml(xml: str, locale: str | None) -> str:
    """The diagram with every translated element's `name` in `locale`, for viewers that
    draw names (bpmn-js). Elements without a translation keep their drawn names."""
    if not locale:
        return xml
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    root = etree.fromstring(xml.encode("utf-8"), parser)
    changed = False
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        by_id = {element.get("id"): element for element in process.iter(f"{{{BPMN_NS}}}*")
                 if element.get("id")}
        for element_id, translations in document_translations(process).items():
            element = by_id[element_id]
            text = pick(translations, locale, element.get("name") or "")
            if text and text != element.get("name"):
                element.set("name", text)
                changed = True
        for participant in root.iter(f"{{{BPMN_NS}}}participant"):  # the pool names the process
            if participant.get("processRef") == process.get("id"):
                text = pick(element_translations(process), locale, participant.get("name") or "")
                if text and text != participant.get("name"):
                    participant.set("name", text)
                    changed = True
    if not changed:
        return xml
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")
