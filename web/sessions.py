"""Cookie sessions for the pages only.

API calls authenticate with a bearer token on every request; they neither read nor
write the session cookie, so a browser's signed-in cookie can never act on the API
(no cross-site request can ride on it) and API calls skip the cookie's signing work.
"""
from __future__ import annotations

from flask import request as current_request
from flask.sessions import SecureCookieSessionInterface

API_PREFIX = "/api/"


class PageSessions(SecureCookieSessionInterface):
    def open_session(self, app, request):
        if request.path.startswith(API_PREFIX):
            return None  # Flask then uses a null session, which it never saves
        return super().open_session(app, request)

    def get_cookie_secure(self, app) -> bool:
        """Secure whenever the request came over HTTPS (behind a proxy: with
        DUTYFLOW_TRUSTED_PROXIES set, web/security_headers.py), always with DUTYFLOW_HTTPS."""
        return super().get_cookie_secure(app) or current_request.is_secure
