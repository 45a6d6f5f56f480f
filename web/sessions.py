"""Cookie sessions for the pages only.

API calls authenticate with a bearer token on every request; they neither read nor
write the session cookie, so a browser's signed-in cookie can never act on the API
(no cross-site request can ride on it) and API calls skip the cookie's signing work.
"""
from __future__ import annotations

from flask.sessions import SecureCookieSessionInterface

API_PREFIX = "/api/"


class PageSessions(SecureCookieSessionInterface):
    def open_session(self, app, request):
        if request.path.startswith(API_PREFIX):
            return None  # Flask then uses a null session, which it never saves
        return super().open_session(app, request)
