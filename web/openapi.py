"""The OpenAPI 3 document, generated from each route's contract (web/api/contract.py): the
schemas that load its input (body, query, headers) and dump its output (body, headers). A
view's docstring gives only the summary and description."""
from __future__ import annotations

import re
from http import HTTPStatus

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from werkzeug.routing import Rule

from web.api import PUBLIC_ENDPOINTS, schemas
from web.api.contract import MULTIPART, Contract, Documented

_PATH_VALUE = re.compile(r"<(?:(\w+):)?(\w+)>")
_SKIPPED = {"api.openapi"}  # the document does not describe itself


def build_spec(app: Flask) -> dict:
    plugin = MarshmallowPlugin()
    spec = APISpec(title="DutyFlow API", version="1.0.0", openapi_version="3.0.3",
                   plugins=[plugin],
                   info={"description": "Department duties as enforced BPMN processes."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Problem", schema=schemas.Problem)
    spec.components.response("Problem", {
        "description": "An RFC 9457 problem document (401, 403, 404, 409, 422 ...).",
        "content": {"application/problem+json": {"schema": "Problem"}}})
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith("api.") or rule.endpoint in _SKIPPED:
            continue
        view = app.view_functions[rule.endpoint]
        path = _PATH_VALUE.sub(r"{\2}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            paths.setdefault(path, {})[method.lower()] = operation(rule, view, plugin)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    document["security"] = [{"bearer": []}]
    return document


def operation(rule: Rule, view, plugin: MarshmallowPlugin) -> dict:
    """One operation: path values and sign-in from the rule, the rest from the view's
    contract and, for the prose, its docstring."""
    contract: Contract = view.contract
    summary, _, description = (view.__doc__ or "").strip().partition("\n\n")
    out: dict = {"summary": " ".join(summary.split()), "parameters": _parameters(rule, contract)}
    if description.strip():
        out["description"] = " ".join(description.split())
    if rule.endpoint in PUBLIC_ENDPOINTS:
        out["security"] = []
    if contract.body is not None:
        body = contract.body if isinstance(contract.body, Documented) else Documented(contract.body)
        out["requestBody"] = {"required": True,
                              "content": {body.media_type: {"schema": body.schema}}}
        if contract.multipart:
            out["requestBody"]["content"][MULTIPART] = {"schema": {
                "type": "object",
                "properties": {contract.multipart: {
                    "type": "string", "description": f"the `{contract.multipart}` member as "
                                                     "JSON text"}},
                "additionalProperties": {"type": "string", "format": "binary",
                                         "description": "a file, in a part named after its "
                                                        "file field (repeat for several)"}}}
    out["responses"] = {str(status): {"description": HTTPStatus(status).phrase,
                                      "content": _content(reply)}
                        for status, reply in contract.responses.items()}
    for status, schema in contract.reply_headers.items():
        out["responses"][str(status)]["headers"] = _headers(schema, plugin)
    out["responses"].update({str(status): "Problem" for status in contract.problems})
    return out


def _parameters(rule: Rule, contract: Contract) -> list[dict]:
    """The rule's path values (`<int:...>` an integer), then the query's and the headers'
    schema fields."""
    parameters = [{"name": name, "in": "path", "required": True,
                   "schema": {"type": "integer" if converter == "int" else "string"}}
                  for converter, name in _PATH_VALUE.findall(rule.rule)]
    if contract.query is not None:
        parameters.append({"in": "query", "schema": contract.query})
    if contract.headers is not None:
        parameters.append({"in": "header", "schema": contract.headers})
    return parameters


def _headers(schema, plugin: MarshmallowPlugin) -> dict:
    """Response headers, one per field of the schema that dumps them."""
    headers = {}
    for name, declared in schema().fields.items():
        described = plugin.converter.field2property(declared)
        description = described.pop("description", None)
        headers[declared.data_key or name] = {"schema": described,
                                              **({"description": description}
                                                 if description else {})}
    return headers


def _content(reply) -> dict:
    if isinstance(reply, tuple):  # media types of a file
        return {media_type: {"schema": {"type": "string", "format": "binary"}}
                for media_type in reply}
    return {"application/json": {"schema": reply}}
