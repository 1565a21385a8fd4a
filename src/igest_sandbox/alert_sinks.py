"""Somewhere for alerts to go when trying the tool: an SMTP sink and a chat receiver on 127.0.0.1.

Both keep what they receive in memory. A small control endpoint on the chat receiver's port
shows it and makes either channel fail, so that a merchant sees an alert wait and then go:

    GET  /_alerts                    what arrived: {"emails": [...], "posts": [...]}
    POST /_alerts/fail?smtp=451      the SMTP sink refuses the next messages (4xx: try later)
    POST /_alerts/fail?webhook=500   the chat receiver answers 500
    POST /_alerts/fail               both work again

The SMTP side speaks the few commands a client sends (EHLO, MAIL, RCPT, DATA, RSET, NOOP,
QUIT), without TLS or login: use ``smtp_security = "none"`` and no password, which the config
allows on loopback. Like the other emulators it imports nothing of the client.
"""

from __future__ import annotations

import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class _Smtp(socketserver.StreamRequestHandler):
    timeout = 30
    server: _SmtpServer

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")

    def handle(self) -> None:
        sinks = self.server.sinks
        self._say("220 igest-sync-sandbox ESMTP")
        sender, recipients = "", list[str]()
        while True:
            raw = self.rfile.readline(65536)
            if not raw:
                return
            command = raw.decode("utf-8", "replace").strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250-igest-sync-sandbox" if verb == "EHLO" else "250 hello")
                if verb == "EHLO":
                    self._say("250 8BITMIME")
            elif verb == "MAIL":
                sender, recipients = command.partition(":")[2].strip(), []
                self._say("250 OK")
            elif verb == "RCPT":
                recipients.append(command.partition(":")[2].strip().strip("<>"))
                self._say("250 OK")
            elif verb == "DATA":
                self._say("354 end with <CRLF>.<CRLF>")
                lines = []
                while (line := self.rfile.readline(1 << 20)) not in (b".\r\n", b".\n", b""):
                    lines.append(line[1:] if line.startswith(b"..") else line)
                if sinks.smtp_failure:
                    self._say(f"{sinks.smtp_failure} sandbox: told to refuse (try again later)")
                else:
                    sinks.record_email(sender, recipients, b"".join(lines))
                    self._say("250 OK: queued")
            elif verb in ("RSET", "NOOP"):
                self._say("250 OK")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("502 command not implemented")


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, sinks: AlertSinks, port: int) -> None:
        self.sinks = sinks
        super().__init__(("127.0.0.1", port), _Smtp)


class AlertSinks:
    """The SMTP sink and the chat receiver; ``start()`` serves both, ``stop()`` ends them."""

    def __init__(self, *, smtp_port: int = 0, chat_port: int = 0) -> None:
        self.emails: list[dict[str, Any]] = []
        self.posts: list[dict[str, Any]] = []
        self.smtp_failure: int | None = None  # e.g. 451: the SMTP sink refuses
        self.webhook_failure: int | None = None  # e.g. 500: the chat receiver answers it
        self._lock = threading.Lock()
        self._ports = (smtp_port, chat_port)
        self._servers: list[socketserver.BaseServer] = []

    def record_email(self, sender: str, recipients: list[str], data: bytes) -> None:
        with self._lock:
            self.emails.append(
                {"from": sender, "to": recipients, "data": data.decode("utf-8", "replace")}
            )

    def start(self) -> AlertSinks:
        sinks = self

        class Chat(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if urlsplit(self.path).path == "/_alerts":
                    with sinks._lock:
                        self._answer(200, {"emails": sinks.emails, "posts": sinks.posts})
                else:
                    self._answer(405)

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if parts.path == "/_alerts/fail":
                    asked = {k: int(v[0]) for k, v in parse_qs(parts.query).items()}
                    sinks.smtp_failure = asked.get("smtp")
                    sinks.webhook_failure = asked.get("webhook")
                    self._answer(
                        200, {"smtp": sinks.smtp_failure, "webhook": sinks.webhook_failure}
                    )
                    return
                if sinks.webhook_failure:
                    self._answer(sinks.webhook_failure)
                    return
                with sinks._lock:
                    sinks.posts.append(
                        {
                            "path": parts.path,
                            "content_type": self.headers.get("Content-Type"),
                            "body": body.decode("utf-8", "replace"),
                        }
                    )
                self._answer(200, {"ok": True})

        smtp = _SmtpServer(self, self._ports[0])
        chat = ThreadingHTTPServer(("127.0.0.1", self._ports[1]), Chat)
        chat.daemon_threads = True
        self._servers = [smtp, chat]
        for server in self._servers:
            threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
            ).start()
        return self

    def stop(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.shutdown()
            server.server_close()

    def _port(self, index: int) -> int:
        address = getattr(self._servers[index], "server_address", None)
        assert isinstance(address, tuple), "both listen on TCP (host, port)"
        return int(address[1])

    @property
    def settings(self) -> dict[str, Any]:
        """What goes in [alerts] to use them, and where to look and steer."""
        chat = f"http://127.0.0.1:{self._port(1)}"
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": self._port(0),
            "smtp_security": "none",
            "email_from": "igest-sync@sandbox.invalid",
            "email_to": ["merchant@sandbox.invalid"],
            "webhook_url": f"{chat}/hook",
            "webhook_format": "json",
            "control_url": f"{chat}/_alerts",
        }
