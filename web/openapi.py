"""The OpenAPI 3 document, generated from the routes' docstrings and marshmallow schemas."""
from __future__ import annotations

import re
from http import HTTPStatus

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.yaml_utils import load_operations_from_docstring
from flask import Flask

from web.api import schemas

_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
_COMPONENTS = ["TokenRequest", "TokenResponse", "Problem", "Definition", "DeployUpload", "Task",
               "TaskDetail", "StartRequest", "Instance", "CompleteRequest", "AssignRequest",
               "CommentRequest", "Comment", "KpiSchemeRequest", "PayrollRunRequest",
               "CorrectionRequest"]


def build_spec(app: Flask) -> dict:
    spec = APISpec(title="DutyFlow API", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Department duties as enforced BPMN processes."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name in _COMPONENTS:
        spec.components.schema(name, schema=getattr(schemas, name))
    spec.components.response("Problem", {
        "description": "An RFC 9457 problem document (401, 403, 404, 409, 422 ...).",
        "content": {"application/problem+json": {"schema": "Problem"}}})
    spec.options["security"] = [{"bearer": []}]
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith("api.") or rule.endpoint == "api.openapi":
            continue
        view = app.view_functions[rule.endpoint]
        operations = load_operations_from_docstring(view.__doc__ or "")
        for operation in operations.values():
            operation.setdefault("summary", (view.__doc__ or "").strip().splitlines()[0])
            operation["responses"] = _expand(operation.get("responses", {}))
        if operations:
            spec.path(path=_CONVERTER.sub(r"{\1}", rule.rule), operations=operations)
    document = spec.to_dict()
    document["security"] = [{"bearer": []}]
    return document


def _expand(responses: dict) -> dict:
    """Docstrings write `403, 409: problem` for the shared problem response; others get a
    description from their status when they have none."""
    out: dict = {}
    for key, response in responses.items():
        if response == "problem":
            out.update({status.strip(): "Problem" for status in str(key).split(",")})
        else:
            out[str(key)] = {"description": HTTPStatus(int(key)).phrase, **response}
    return out
