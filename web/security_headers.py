"""Headers that make a browser defend the pages: CSP, no framing, no sniffing, HTTPS.

Everything the pages load (bpmn-js, Chart.js, our scripts and styles) is served from
this origin and no page has inline script, so the Content-Security-Policy can stay
`'self'` only: injected markup cannot run script even if escaping ever failed. `data:`
images are allowed because bpmn-js's stylesheet draws its breadcrumb arrows with one.
"""
from __future__ import annotations

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

from services.settings import Settings

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
    "font-src 'self'", "connect-src 'self'", "object-src 'none'", "base-uri 'none'",
    "form-action 'self'", "frame-ancestors 'none'"])
HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY,
           "X-Frame-Options": "DENY",  # frame-ancestors for browsers without CSP 2
           "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin"}
HSTS = "max-age=31536000"


def init_security_headers(app: Flask, settings: Settings) -> None:
    if settings.trusted_proxies:
        # Only then is X-Forwarded-For/-Proto/-Host believed: the client's address
        # (rate limits), https (Secure cookies, CSRF referrer check) and the host.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies,
                                x_proto=settings.trusted_proxies,
                                x_host=settings.trusted_proxies)
    # Otherwise the cookie is Secure per request, when it came over HTTPS (web/sessions.py).
    app.config["SESSION_COOKIE_SECURE"] = settings.https
    headers = {**HEADERS, **({"Strict-Transport-Security": HSTS} if settings.https else {})}

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
