"""Parsing XML that users upload (BPMN, DMN): untrusted input, read with lxml's hardened
settings. Oversized documents, DTDs and entity declarations are refused; nothing is ever
fetched from the network; comments are dropped."""
from __future__ import annotations

from lxml import etree

from .errors import BpmnValidationError, Problem


def parse_safely(source: bytes, filename: str, max_bytes: int) -> etree._Element:
    """The document's root, or BpmnValidationError with the file and line of the refusal."""
    def refuse(line: int | None, message: str) -> BpmnValidationError:
        return BpmnValidationError([Problem(filename, line, None, message)])

    if len(source) > max_bytes:
        raise refuse(None, f"the file is {len(source)} bytes; the limit is {max_bytes}")
    if not source.strip():
        raise refuse(1, "the file is empty")
    head = source[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in source.upper():
        raise refuse(_line_of(source, b"<!"), "DTDs and entity declarations are not allowed")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             dtd_validation=False, huge_tree=False, remove_comments=True)
    try:
        root = etree.fromstring(source, parser)
    except etree.XMLSyntaxError as err:
        raise refuse(err.lineno, f"malformed XML: {err.msg}") from None
    if root.getroottree().docinfo.doctype:
        raise refuse(1, "DTDs and entity declarations are not allowed")
    return root


def _line_of(source: bytes, needle: bytes) -> int:
    position = source.upper().find(needle)
    return source.count(b"\n", 0, max(position, 0)) + 1
