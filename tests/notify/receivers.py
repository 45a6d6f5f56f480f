"""Real receivers for notification tests: an HTTP server that checks each webhook's HMAC
signature (or a DingTalk robot's URL signature), and an SMTP server (aiosmtpd)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def delivery(self) -> str:
        return self.headers.get("X-DutyFlow-Delivery", "")


@dataclass
class HttpReceiver:
    """Answers 500 to the first `fail_first` requests, then 200 (DingTalk's JSON for robots).
    Every request is recorded with whether its signature checked out. `hold` blocks
    handlers until set (a receiver that never answers while a worker is killed)."""

    secret: str
    robot: bool = False
    fail_first: int = 0
    hold: threading.Event | None = None
    delay: float = 0.0  # seconds each answer takes
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do
            disable_nagle_algorithm = True  # headers and body leave at once, no 40 ms wait

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers), body,
                                                      receiver.check(self.path, self.headers, body)))
                    failing = len(receiver.received) <= receiver.fail_first
                    receiver.arrived.set()
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                time.sleep(receiver.delay)
                answer = b'{"errcode":0,"errmsg":"ok"}' if receiver.robot else b"ok"
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook?team=%E8%B4%A8%E9%87%8F"

    def check(self, path: str, headers, body: bytes) -> bool:
        if self.robot:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
            timestamp, sign = query["timestamp"][0], query["sign"][0]
            digest = hmac.new(self.secret.encode(), f"{timestamp}\n{self.secret}".encode(),
                              hashlib.sha256).digest()
            fresh = abs(time.time() * 1000 - int(timestamp)) < 3600_000
            return fresh and hmac.compare_digest(sign, base64.b64encode(digest).decode())
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(headers.get("X-DutyFlow-Signature", ""), expected)

    def deliveries(self) -> list[str]:
        with self.lock:
            return [item.delivery for item in self.received]

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content,
                                                                    policy=policy.default)))
        return "250 Message accepted for delivery"


class SmtpReceiver:
    def __init__(self):
        self.mailbox = _Mailbox()
        self.port = _free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self):
        return self.mailbox.messages

    def close(self) -> None:
        self.controller.stop()
