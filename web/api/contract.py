"""Each operation's contract: the schemas that load its input, dump its output and, read by
web/openapi.py, describe both. One declaration, so the document cannot drift from the code."""
from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import marshmallow
from flask import Response, jsonify, request

from . import load

MULTIPART = "multipart/form-data"


@dataclass(frozen=True)
class Documented:
    """A body described by `schema` but read by the view: its service validates it, with
    its own error format, after the caller's role is checked (KPI schemes, BPMN uploads)."""

    schema: type[marshmallow.Schema]
    media_type: str = "application/json"


Body = type[marshmallow.Schema] | Documented
# A schema (class, or instance with many=True) dumps JSON; media types name a Response
# the view builds itself (files).
Reply = type[marshmallow.Schema] | marshmallow.Schema | tuple[str, ...]


@dataclass(frozen=True)
class Contract:
    """`headers` loads request headers (each field's data_key is the header's name);
    `reply_headers` dumps, per status, the headers a view sends with its answer."""

    responses: dict[int, Reply]
    body: Body | None = None
    query: type[marshmallow.Schema] | None = None
    headers: type[marshmallow.Schema] | None = None
    reply_headers: dict[int, type[marshmallow.Schema]] = field(default_factory=dict)
    problems: tuple[int, ...] = ()
    # The body may also come as multipart/form-data: the part `multipart` holds the JSON
    # text of that body member, and every other part is a file (read by the view).
    multipart: str | None = None
    _dumpers: dict[int, marshmallow.Schema] = field(init=False, repr=False, compare=False)
    _header_dumpers: dict[int, marshmallow.Schema] = field(init=False, repr=False,
                                                           compare=False)
    _header_names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        dumpers = {status: reply() if isinstance(reply, type) else reply
                   for status, reply in self.responses.items() if not isinstance(reply, tuple)}
        object.__setattr__(self, "_dumpers", dumpers)
        object.__setattr__(self, "_header_dumpers",
                           {status: schema() for status, schema in self.reply_headers.items()})
        names = () if self.headers is None else tuple(
            declared.data_key or name for name, declared in self.headers().fields.items())
        object.__setattr__(self, "_header_names", names)

    def arguments(self) -> dict[str, Any]:
        """The loaded body, query and headers, as the view's arguments of those names."""
        loaded = {}
        if isinstance(self.body, type):
            loaded["body"] = load(self.body, self._multipart_body())
        if self.query is not None:
            loaded["query"] = load(self.query, request.args.to_dict())
        if self.headers is not None:
            loaded["headers"] = load(self.headers, {name: request.headers[name]
                                                    for name in self._header_names
                                                    if name in request.headers})
        return loaded

    def _multipart_body(self) -> Any | None:
        """For a multipart request to an operation that takes one: the body as JSON would
        carry it, its member from the part of that name (absent: `{}`)."""
        if self.multipart is None or request.mimetype != MULTIPART:
            return None
        text = request.form.get(self.multipart) or "{}"
        try:
            member = json.loads(text)
        except ValueError:
            member = text  # the schema names the field that is not an object
        return {self.multipart: member}

    def reply(self, result: Any) -> Response:
        """The view's data, or (data, status[, headers]), dumped through the schemas
        documented for that status; a Response (a file) passes as is."""
        if isinstance(result, Response):
            return result
        data, status, *headers = result if isinstance(result, tuple) else (result, 200)
        response = jsonify(self._dumpers[status].dump(data))
        response.status_code = status
        if headers and headers[0]:
            response.headers.update(self._header_dumpers[status].dump(headers[0]))
        return response


def operation(responses: dict[int, Reply], *, body: Body | None = None,
              query: type[marshmallow.Schema] | None = None,
              headers: type[marshmallow.Schema] | None = None,
              reply_headers: dict[int, type[marshmallow.Schema]] | None = None,
              problems: tuple[int, ...] = (), multipart: str | None = None) -> Callable:
    """Declare a view's contract; the view gets `body`/`query`/`headers` loaded (422 on
    error) and returns data (and headers), which leave dumped through the response schemas."""
    contract = Contract(responses, body, query, headers, reply_headers or {}, problems,
                        multipart)

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def run(**path_values):
            return contract.reply(view(**path_values, **contract.arguments()))

        run.contract = contract
        return run

    return decorate
