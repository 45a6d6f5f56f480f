"""One id per request, shared by its log lines, its response and any problem it answers.

A caller (or the proxy in front) may send `X-Request-Id`; a well-formed one is kept so a
trace can cross services, anything else is replaced, so a header can never inject text
into the logs. The id lives in a context variable, which is how log records written far
from Flask (services, SQLAlchemy) still carry it.
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid

from flask import Flask, g, request

HEADER = "X-Request-Id"
ENVIRON_KEY = "dutyflow.request_id"
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,64}")

current: contextvars.ContextVar[str] = contextvars.ContextVar("dutyflow_request_id", default="-")


def choose(environ: dict) -> str:
    """The request's id: the one already chosen for it, the caller's when well formed, else new."""
    chosen = environ.get(ENVIRON_KEY)
    if chosen is None:
        sent = environ.get("HTTP_X_REQUEST_ID", "")
        chosen = sent if _WELL_FORMED.fullmatch(sent) else uuid.uuid4().hex
        environ[ENVIRON_KEY] = chosen
    current.set(chosen)
    return chosen


def init_request_ids(app: Flask) -> None:
    @app.before_request
    def name_the_request() -> None:
        g.request_id = choose(request.environ)

    @app.after_request
    def tell_the_caller(response):
        response.headers[HEADER] = request.environ.get(ENVIRON_KEY, "-")
        return response


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record, as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id (and the error)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
                 "level": record.levelname, "logger": record.name,
                 "message": record.getMessage(),
                 "request_id": getattr(record, "request_id", "-")}
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(json_lines: bool) -> None:
    """The serve command's logging: plain lines by default, JSON lines when asked for."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(name)s [%(request_id)s] %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
