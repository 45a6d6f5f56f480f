"""Errors as RFC 9457 problem documents; never a stack trace, never a 500 for bad input."""
from __future__ import annotations

import logging

from flask import (Flask, Response, g, has_request_context, json, redirect, render_template,
                   request, url_for)
from werkzeug.exceptions import HTTPException

from services.errors import (Busy, Conflict, InvalidInput, NotAuthenticated, NotFound,
                             PermissionDenied, ServiceError, Unavailable)

log = logging.getLogger(__name__)

_STATUS = {NotAuthenticated: (401, "Not authenticated"), PermissionDenied: (403, "Forbidden"),
           NotFound: (404, "Not found"), Conflict: (409, "Conflict"),
           InvalidInput: (422, "Invalid input"), Busy: (503, "Service unavailable"),
           Unavailable: (503, "Service unavailable")}


def problem(status: int, title: str, detail: str, **extra) -> Response:
    """A problem document; it names the request (as its `X-Request-Id` header does) so a
    report from a user finds the log lines of the request that failed."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    if has_request_context() and "request_id" in g:
        body["request_id"] = g.request_id
    response = Response(json.dumps(body, ensure_ascii=False), status=status,
                        mimetype="application/problem+json")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="dutyflow"'
    return response


MACHINE_PATHS = ("/api/", "/metrics")


def _wants_page() -> bool:
    """People in a browser get an HTML page; API clients and scrapers, a problem document."""
    return not request.path.startswith(MACHINE_PATHS)


def answer(status: int, title: str, detail: str, **extra) -> Response:
    if _wants_page():
        return Response(render_template("error.html", status=status, title=title, detail=detail),
                        status=status, mimetype="text/html")
    return problem(status, title, detail, **extra)


def internal_error(err: Exception) -> Response:
    """A bug: logged with its traceback; the client learns only that it happened."""
    log.exception("unhandled error", exc_info=err)
    return answer(500, "Internal server error", "an unexpected error occurred; it was logged")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def service_error(err: ServiceError):
        if isinstance(err, NotAuthenticated) and _wants_page():
            return redirect(url_for("pages.sign_in", next=request.full_path))
        status, title = next((value for kind, value in _STATUS.items() if isinstance(err, kind)),
                             (400, "Bad request"))
        extra = {"errors": err.errors} if isinstance(err, InvalidInput) else {}
        response = answer(status, title, str(err).splitlines()[0], **extra)
        if isinstance(err, Busy):
            response.headers["Retry-After"] = str(err.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        return answer(err.code or 500, err.name, err.description or err.name)

    app.register_error_handler(Exception, internal_error)
