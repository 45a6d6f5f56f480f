"""The channels a delivery goes out on: email over SMTP, a department's signed webhook,
a department's DingTalk group robot.

Each send either returns (the receiver took it) or raises SendFailed with a short
reason for the delivery's `last_error`. Reasons never hold a URL or secret: a robot's
URL carries its access token.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import smtplib
import ssl
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from services.notify.messages import OPEN, Catalogs, render
from services.persistence.statuses import Channel

SIGNATURE_HEADER = "X-DutyFlow-Signature"
DELIVERY_HEADER = "X-DutyFlow-Delivery"
EVENT_HEADER = "X-DutyFlow-Event"


class SendFailed(Exception):
    """The receiver did not take the message; the text is safe to store and show."""


def sign_body(secret: str, body: bytes) -> str:
    """The webhook signature header's value: HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def dingtalk_signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signing: `timestamp` (ms) and `sign`, the URL-encoded base64 of
    HMAC-SHA256 keyed by the secret over "timestamp\\nsecret", added to the query."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode("utf-8"),
                      hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp_ms}&sign={sign}"


@dataclass(frozen=True)
class Outgoing:
    """What a delivery worker hands a channel: the delivery row's fields it needs."""
    id: str
    channel: str
    target: str
    kind: str
    locale: str
    payload: Mapping[str, Any]
    created_at: str


class HttpPoster:
    """POSTs over kept-alive connections, one per host (a delivery round to one receiver
    costs one TCP handshake, not one per message). Not shared between threads."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._connections: dict[tuple[str, str], http.client.HTTPConnection] = {}

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.netloc)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for fresh in (False, True):
            connection = self._connections.get(key)
            reused = connection is not None
            if connection is None or fresh:
                connection = self._open(parts)
                self._connections[key] = connection
            try:
                connection.request("POST", target, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop(key)
                if reused and not fresh:
                    continue  # the receiver closed an idle connection: once more, anew
                raise
            except (OSError, http.client.HTTPException):
                self._drop(key)
                raise
            if response.will_close:
                self._drop(key)
            return response.status, data
        raise AssertionError("unreachable")

    def _open(self, parts: urllib.parse.SplitResult) -> http.client.HTTPConnection:
        if parts.scheme == "https":
            return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=self.timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)

    def _drop(self, key: tuple[str, str]) -> None:
        connection = self._connections.pop(key, None)
        if connection is not None:
            connection.close()

    def close(self) -> None:
        for key in list(self._connections):
            self._drop(key)


class Channels:
    """Sends one delivery on its channel. One per delivering thread (it keeps connections)."""

    def __init__(self, *, smtp_url: str, mail_from: str, base_url: str, catalogs: Catalogs,
                 timeout: float = 10.0):
        self.smtp_url = smtp_url
        self.mail_from = mail_from
        self.base_url = base_url.rstrip("/")
        self.catalogs = catalogs
        self.timeout = timeout
        self.http = HttpPoster(timeout)
        self._smtp: smtplib.SMTP | None = None

    def send(self, outgoing: Outgoing, department_notify: Mapping[str, Any] | None) -> None:
        try:
            if outgoing.channel == Channel.EMAIL:
                self._email(outgoing)
            elif outgoing.channel == Channel.WEBHOOK:
                self._webhook(outgoing, _channel_config(outgoing, department_notify, "webhook"))
            elif outgoing.channel == Channel.ROBOT:
                self._robot(outgoing, _channel_config(outgoing, department_notify, "robot"))
            else:
                raise SendFailed(f"unknown channel {outgoing.channel!r}")
        except SendFailed:
            raise
        except (OSError, http.client.HTTPException, smtplib.SMTPException) as err:
            raise SendFailed(_reason(err)) from None

    def close(self) -> None:
        """Close the connections kept for a round (they reopen when needed)."""
        self.http.close()
        self._close_smtp()

    def _message(self, outgoing: Outgoing):
        gettext = self.catalogs.gettext(outgoing.locale)
        return render(outgoing.kind, outgoing.payload, gettext, self.base_url,
                      outgoing.locale), gettext

    def _email(self, outgoing: Outgoing) -> None:
        if not self.smtp_url:
            raise SendFailed("no SMTP server configured (DUTYFLOW_SMTP_URL)")
        message, _ = self._message(outgoing)
        email = EmailMessage()
        email["Subject"] = message.title
        email["From"] = formataddr(("DutyFlow", self.mail_from))
        email["To"] = outgoing.target
        # The delivery id, stable across retries, lets a mail system drop a repeat.
        email["Message-ID"] = make_msgid(idstring=outgoing.id, domain="dutyflow")
        email[DELIVERY_HEADER] = outgoing.id
        email[EVENT_HEADER] = outgoing.kind
        email.set_content(message.text)
        for fresh in (False, True):
            server, reused = self._smtp_server(fresh)
            try:
                server.send_message(email)
                return
            except smtplib.SMTPServerDisconnected:
                self._close_smtp()
                if reused and not fresh:
                    continue  # the server closed an idle connection: once more, anew
                raise
            except (OSError, smtplib.SMTPException):
                self._close_smtp()
                raise

    def _smtp_server(self, fresh: bool) -> tuple[smtplib.SMTP, bool]:
        """The round's SMTP connection (one per round, not one per message)."""
        if self._smtp is not None and not fresh:
            return self._smtp, True
        self._close_smtp()
        parts = urllib.parse.urlsplit(self.smtp_url)
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtp+starttls", "smtps"):
            raise SendFailed(f"DUTYFLOW_SMTP_URL: unknown scheme {scheme!r} "
                             "(smtp, smtp+starttls or smtps)")
        host, port = parts.hostname or "localhost", parts.port
        if scheme == "smtps":
            server = smtplib.SMTP_SSL(host, port or 465, timeout=self.timeout,
                                      context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(host, port or (587 if scheme == "smtp+starttls" else 25),
                                  timeout=self.timeout)
        try:
            if scheme == "smtp+starttls":
                server.starttls(context=ssl.create_default_context())
            if parts.username:
                server.login(urllib.parse.unquote(parts.username),
                             urllib.parse.unquote(parts.password or ""))
        except BaseException:
            server.close()
            raise
        self._smtp = server
        return server, False

    def _close_smtp(self) -> None:
        server, self._smtp = self._smtp, None
        if server is not None:
            try:
                server.quit()
            except (OSError, smtplib.SMTPException):
                server.close()

    def webhook_body(self, outgoing: Outgoing) -> bytes:
        message, _ = self._message(outgoing)
        return json.dumps({"delivery": outgoing.id, "kind": outgoing.kind,
                           "created_at": outgoing.created_at, "department": outgoing.target,
                           "title": message.title, "text": message.body, "url": message.url,
                           "data": dict(outgoing.payload)},
                          ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def _webhook(self, outgoing: Outgoing, config: Mapping[str, Any]) -> None:
        body = self.webhook_body(outgoing)
        status, _ = self.http.post(config["webhook"], body, {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign_body(config["secret"], body),
            DELIVERY_HEADER: outgoing.id, EVENT_HEADER: outgoing.kind,
            "User-Agent": "DutyFlow"})
        if not 200 <= status < 300:
            raise SendFailed(f"the webhook answered HTTP {status}")

    def _robot(self, outgoing: Outgoing, config: Mapping[str, Any]) -> None:
        message, gettext = self._message(outgoing)
        body = json.dumps({"msgtype": "markdown",
                           "markdown": {"title": message.title,
                                        "text": message.markdown(gettext(OPEN))}},
                          ensure_ascii=False).encode("utf-8")
        url = dingtalk_signed_url(config["url"], config["secret"], int(time.time() * 1000))
        status, answer = self.http.post(url, body, {
            "Content-Type": "application/json; charset=utf-8", "User-Agent": "DutyFlow"})
        if not 200 <= status < 300:
            raise SendFailed(f"the robot answered HTTP {status}")
        try:
            errcode = json.loads(answer or b"{}").get("errcode", 0)
        except (ValueError, AttributeError):
            errcode = 0  # a 2xx without DingTalk's JSON: taken as accepted
        if errcode:
            raise SendFailed(f"the robot refused the message: errcode {errcode}")


def _channel_config(outgoing: Outgoing, department_notify: Mapping[str, Any] | None,
                    key: str) -> Mapping[str, Any]:
    config = (department_notify or {}).get(key)
    if not config:
        raise SendFailed(f"department {outgoing.target} has no {key} any more")
    return {"webhook": config, "secret": department_notify.get("secret", "")} \
        if key == "webhook" else config


def _reason(err: Exception) -> str:
    """A failure's reason without the URL (OSError's text holds none; HTTP errors are ours)."""
    if isinstance(err, smtplib.SMTPResponseException):
        return f"SMTP {err.smtp_code}: {err.smtp_error.decode('utf-8', 'replace')[:200]}"
    detail = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return f"{type(err).__name__}: {detail}"[:300]
