"""Real local receivers for the alert tests: an HTTP webhook, an SMTP server, a black hole.

Everything listens on 127.0.0.1 and a free port; nothing is mocked. apprise reaches them with:

* ``json://127.0.0.1:<port>/<path>``: the webhook (apprise POSTs ``{"title", "message", ...}``);
* ``mailto://127.0.0.1:<port>?from=...&to=...&mode=insecure``: the SMTP server, plain SMTP,
  no TLS (``mode=insecure``), no login (no user or password in the URL).
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


def free_port() -> int:
    """Return a port nothing listens on now (closed again at once)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``check`` every 10 ms until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


@dataclass(frozen=True)
class Hit:
    """One POST the webhook received."""

    at: float  # time.monotonic()
    path: str
    payload: dict[str, Any]
    status: int  # what the webhook answered

    @property
    def title(self) -> str:
        return str(self.payload.get("title", ""))

    @property
    def message(self) -> str:
        return str(self.payload.get("message", ""))


class Webhook:
    """An HTTP receiver: records every POST; answers from ``statuses`` (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.hits: list[Hit] = []
        self.statuses = list(statuses or [])
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(size)
                with hook._lock:
                    status = hook.statuses.pop(0) if hook.statuses else 200
                    try:
                        payload = json.loads(raw or b"{}")
                    except json.JSONDecodeError:
                        payload = {"raw": raw.decode(errors="replace")}
                    hook.hits.append(Hit(time.monotonic(), self.path, payload, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str = "hook", auth: str = "") -> str:
        """Return apprise's URL for this receiver (``auth``: ``user:password@``)."""
        return f"json://{auth}{HOST}:{self.port}/{path}"

    def titles(self, status: int | None = 200) -> list[str]:
        """Return the titles received (answered ``status``; None: every one)."""
        with self._lock:
            return [h.title for h in self.hits if status is None or h.status == status]

    def start(self) -> Webhook:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """An SMTP server (aiosmtpd) that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = free_port()
        box = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                box.messages.append(message)
                return "250 Message accepted for delivery"

        self.controller = Controller(Handler(), hostname=HOST, port=self.port)

    def url(self, to: str = "ops@example.com") -> str:
        """Return apprise's URL for this server: plain SMTP, no login."""
        return f"mailto://{HOST}:{self.port}?from=alerts@example.com&to={to}&mode=insecure"

    def subjects(self) -> list[str]:
        return [str(m["subject"]) for m in self.messages]

    def text(self, subject: str) -> str:
        """Return the plain-text body of the message with ``subject``."""
        for message in self.messages:
            if str(message["subject"]) == subject:
                part = message.get_body(preferencelist=("plain",))
                return "" if part is None else str(part.get_content())
        raise KeyError(subject)

    def start(self) -> Mailbox:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class BlackHole:
    """A port that takes connections and never answers: a receiver that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind((HOST, 0))
        self.sock.listen(64)  # the kernel completes the handshakes; nobody reads
        self.port = int(self.sock.getsockname()[1])

    def url(self) -> str:
        return f"json://{HOST}:{self.port}/hangs"

    def stop(self) -> None:
        self.sock.close()


@contextmanager
def receivers(statuses: list[int] | None = None) -> Iterator[tuple[Webhook, Mailbox]]:
    """A started webhook and SMTP server, stopped afterwards."""
    hook, box = Webhook(statuses).start(), Mailbox().start()
    try:
        yield hook, box
    finally:
        hook.stop()
        box.stop()
