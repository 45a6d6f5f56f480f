"""One log line per request (client, method, path, status, bytes, milliseconds).

WSGI middleware rather than a Flask hook, so it also times and logs what Flask never
sees: requests that fail before routing and the time spent streaming the body out.
Query strings are left out: they can carry cursors and search text nobody asked to keep.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from .request_id import choose

log = logging.getLogger("dutyflow.access")


class AccessLog:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response) -> Iterable[bytes]:
        started = time.perf_counter()
        choose(environ)  # log lines written while answering carry the request's id
        status_line = ["-"]

        def recording_start_response(status, headers, exc_info=None):
            status_line[0] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        body = self.app(environ, recording_start_response)
        sent = 0
        try:
            for chunk in body:
                sent += len(chunk)
                yield chunk
        finally:
            if hasattr(body, "close"):
                body.close()
            log.info("%s %s %s %s %d %.1fms", environ.get("REMOTE_ADDR", "-"),
                     environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), status_line[0],
                     sent, (time.perf_counter() - started) * 1000)
