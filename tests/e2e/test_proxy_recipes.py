"""The README's TLS proxy recipes (Caddy, nginx) in front of serve's real receiver.

Each recipe is taken from the README's code block (so the test and the text cannot drift),
given loopback ports instead of the public name and TLS (certificates are not what is tested),
and run by the real proxy binary. Checked through the proxy: a signed webhook reaches serve
(202), ``/healthz`` answers serve's JSON, and once serve is stopped ``/healthz`` is not a
``200`` (an outage must show through the proxy). Skipped, with the reason, where the binary is
not installed (Debian/Ubuntu: ``apt-get install caddy nginx``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest

from igest_sync.serve.receiver import Endpoint, Receiver

README = Path(__file__).resolve().parents[2] / "README.md"
RECIPE_UPSTREAM = "127.0.0.1:8787"
TOKEN = "proxy-test-hooks-token"
STORE = "proxystore"


def recipe(language: str) -> str:
    """The README's ```<language> block under a "TLS" heading."""
    found = re.findall(
        rf"### TLS: [^\n]*\n.*?```{language}\n(.*?)```", README.read_text(), re.DOTALL
    )
    assert len(found) == 1, f"README: expected one ```{language} recipe under a TLS heading"
    return found[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class Serve:
    """serve's receiver (one store at /hooks/jumpseller, and /healthz) on a loopback port."""

    def __init__(self) -> None:
        self.recorded: list[tuple[str, int, str]] = []
        endpoint = Endpoint(
            name=STORE,
            path="/hooks/jumpseller",
            hooks_token=TOKEN,
            store_codes=frozenset({STORE}),
            stock_events=False,
            record=lambda subject, subject_id, event, *_: self.recorded.append(
                (subject, subject_id, event)
            ),
            wake=lambda: None,
        )
        app = Receiver([endpoint], lambda: {"status": "ok", "stores": 1})
        self.server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        self.server.shutdown()
        self.thread.join()
        self.server.server_close()


def wait_listening(port: int, proxy: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60  # a bound on a hang, not a timing claim
    while time.monotonic() < deadline:
        if proxy.poll() is not None:
            pytest.fail(f"the proxy exited {proxy.returncode}:\n{log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"the proxy did not listen on {port} within 20 s:\n{log.read_text()[-2000:]}")


def caddy_config(tmp: Path, listen: int, upstream: int) -> tuple[list[str], dict[str, str]]:
    text = recipe("caddy").replace("shop.example.pt", f"http://127.0.0.1:{listen}")
    text = text.replace(RECIPE_UPSTREAM, f"127.0.0.1:{upstream}")
    # No admin endpoint (its fixed port would clash between tests), nothing kept in $HOME.
    path = tmp / "Caddyfile"
    path.write_text("{\n\tadmin off\n}\n" + text)
    env = {**os.environ, "HOME": str(tmp), "XDG_DATA_HOME": str(tmp), "XDG_CONFIG_HOME": str(tmp)}
    return ["caddy", "run", "--config", str(path), "--adapter", "caddyfile"], env


def nginx_config(tmp: Path, listen: int, upstream: int) -> tuple[list[str], dict[str, str]]:
    text = recipe("nginx")
    text = re.sub(r"listen 443 ssl;", f"listen 127.0.0.1:{listen};", text)
    text = re.sub(r"\n\s*ssl_certificate(_key)?\s[^\n]*", "", text)
    text = text.replace(RECIPE_UPSTREAM, f"127.0.0.1:{upstream}")
    temps = "".join(
        f"    {name}_temp_path {tmp / name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, nginx's workers would switch to `nobody`, who cannot enter pytest's tmp folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {tmp / 'nginx.pid'};\nerror_log stderr;\n"
        "daemon off;\nevents { worker_connections 64; }\n"
        f"http {{\n    access_log off;\n{temps}{text}}}\n"
    )
    return ["nginx", "-p", str(tmp), "-e", "stderr", "-c", str(conf)], dict(os.environ)


CONFIGS: dict[str, Callable[[Path, int, int], tuple[list[str], dict[str, str]]]] = {
    "caddy": caddy_config,
    "nginx": nginx_config,
}


@pytest.fixture(params=sorted(CONFIGS))
def proxied(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Serve, str]]:
    name = request.param
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed (apt-get install {name}): its recipe is untested")
    serve = Serve()
    listen = free_port()
    command, env = CONFIGS[name](tmp_path, listen, serve.port)
    log = tmp_path / "proxy.log"
    with log.open("wb") as out:
        proxy = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_listening(listen, proxy, log)
        yield serve, f"http://127.0.0.1:{listen}"
    finally:
        proxy.terminate()
        try:
            proxy.wait(10)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait()
        serve.stop()


def test_a_recipe_forwards_the_hooks_and_the_health_path_and_shows_an_outage(proxied) -> None:
    serve, url = proxied
    body = json.dumps({"order": {"id": 10015}}).encode()
    signature = base64.b64encode(hmac.new(TOKEN.encode(), body, hashlib.sha256).digest())
    with httpx.Client(base_url=url, timeout=10) as client:
        hook = client.post(
            "/hooks/jumpseller",
            content=body,
            headers={
                "Content-Type": "application/json",
                "Jumpseller-Hmac-Sha256": signature.decode(),
                "Jumpseller-Store-Code": STORE,
                "Jumpseller-Event": "order_paid",
            },
        )
        assert hook.status_code == 202, hook.text
        assert serve.recorded == [("order", 10015, "order_paid")]

        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"

        serve.stop()
        down = client.get("/healthz")
        assert down.status_code != 200, "a health check through the proxy hides the outage"
        assert down.status_code in (502, 503, 504)
