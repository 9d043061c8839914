"""Real proxies for the traffic tests: two tiny color servers, HAProxy and nginx on 127.0.0.1
high ports, and a bounded load loop. Everything started here is stopped here, by PID."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    color = "?"
    #: /health answers 503 while False (a color that runs but is not ready yet).
    healthy = True
    #: Seconds /health takes (a slow check stays "in progress" on the proxy that long).
    health_delay = 0.0

    def do_GET(self) -> None:
        body = f"{self.color}\n".encode()
        if self.path.startswith("/health") and type(self).health_delay:
            time.sleep(type(self).health_delay)
        if self.path.startswith("/health") and not type(self).healthy:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # health checks and closing proxies reset connections; that is not a test failure


@dataclass
class ColorServers:
    ports: dict[str, int]
    servers: list[ThreadingHTTPServer] = field(default_factory=list)
    handlers: dict[str, type[_Handler]] = field(default_factory=dict)

    def url(self, color: str) -> str:
        return f"http://127.0.0.1:{self.ports[color]}/"

    def health_url(self, color: str) -> str:
        return f"http://127.0.0.1:{self.ports[color]}/health"

    def kill(self, color: str) -> None:
        """The color's app dies: its port refuses connections."""
        for server in self.servers:
            if server.server_address[1] == self.ports[color]:
                server.shutdown()
                server.server_close()
        self.servers = [s for s in self.servers if s.server_address[1] != self.ports[color]]

    def set_healthy(self, color: str, healthy: bool) -> None:
        self.handlers[color].healthy = healthy


@contextlib.contextmanager
def color_servers() -> Iterator[ColorServers]:
    result = ColorServers({})
    for color in ("blue", "green"):
        handler = type(f"{color}Handler", (_Handler,), {"color": color})
        result.handlers[color] = handler
        server = _QuietServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        result.ports[color] = server.server_address[1]
        result.servers.append(server)
    yield result
    for server in result.servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def colors() -> Iterator[ColorServers]:
    with color_servers() as result:
        yield result


def need(binary: str) -> str:
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if path is None:
        if os.environ.get("EC_REQUIRE_DATABASES") == "1":
            pytest.fail(f"{binary} is required in CI (.ci/run installs it) but is not installed", pytrace=False)
        pytest.skip(f"{binary} is not installed (apt-get install {binary})")
    return path


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {timeout}s")
        time.sleep(0.05)


@dataclass
class Haproxy:
    binary: str
    dir: Path
    config: Path
    socket: Path
    pidfile: Path
    state_file: Path
    port: int
    pids: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        subprocess.run(
            [self.binary, "-f", str(self.config), "-D", "-p", str(self.pidfile)],
            check=True,
            capture_output=True,
            timeout=30,
        )
        self._remember()
        _wait(lambda: self.socket.exists(), 10, "HAProxy admin socket")

    def reload(self) -> None:
        old = self.pidfile.read_text().split()
        subprocess.run(
            [self.binary, "-f", str(self.config), "-D", "-p", str(self.pidfile), "-sf", *old],
            check=True,
            capture_output=True,
            timeout=30,
        )
        self._remember()
        time.sleep(0.3)

    def _remember(self) -> None:
        if self.pidfile.exists():
            self.pids.update(int(p) for p in self.pidfile.read_text().split())

    def stop(self) -> None:
        self._remember()
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


HAPROXY_CONFIG = """\
global
    stats socket {dir}/admin.sock mode 600 level admin expose-fd listeners
    server-state-file {dir}/state.srv

defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout http-keep-alive 10s
    option http-keep-alive
    option idle-close-on-response
    load-server-state-from-file global

frontend fe
    bind 127.0.0.1:{port}
    default_backend app

backend app
    balance roundrobin
    option httpchk GET /health
    server blue 127.0.0.1:{blue} check inter 300ms fall 2 rise 1 weight 100
    server green 127.0.0.1:{green} check inter 300ms fall 2 rise 1 weight 100 disabled
"""


@pytest.fixture
def haproxy(colors: ColorServers, tmp_path: Path) -> Iterator[Haproxy]:
    with running_haproxy(need("haproxy"), colors, tmp_path / "haproxy") as proxy:
        yield proxy


@contextlib.contextmanager
def running_haproxy(binary: str, colors: ColorServers, directory: Path) -> Iterator[Haproxy]:
    directory.mkdir()
    port = free_port()
    config = directory / "haproxy.cfg"
    config.write_text(
        HAPROXY_CONFIG.format(dir=directory, port=port, blue=colors.ports["blue"], green=colors.ports["green"]),
        encoding="utf-8",
    )
    proxy = Haproxy(
        binary, directory, config, directory / "admin.sock", directory / "haproxy.pid", directory / "state.srv", port
    )
    proxy.start()
    try:
        _wait(lambda: probe(proxy.url) == "blue", 10, "HAProxy serving blue")
        yield proxy
    finally:
        proxy.stop()


NGINX_CONFIG = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp_body;
    proxy_temp_path {dir}/tmp_proxy;
    fastcgi_temp_path {dir}/tmp_fcgi;
    uwsgi_temp_path {dir}/tmp_uwsgi;
    scgi_temp_path {dir}/tmp_scgi;
    include {dir}/upstream.conf;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


@dataclass
class Nginx:
    binary: str
    dir: Path
    config: Path
    upstream: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


@pytest.fixture
def nginx(colors: ColorServers, tmp_path: Path) -> Iterator[Nginx]:
    with running_nginx(need("nginx"), colors, tmp_path / "nginx") as proxy:
        yield proxy


@contextlib.contextmanager
def running_nginx(binary: str, colors: ColorServers, directory: Path) -> Iterator[Nginx]:
    directory.mkdir()
    directory.chmod(0o755)
    port = free_port()
    config = directory / "nginx.conf"
    config.write_text(NGINX_CONFIG.format(dir=directory, port=port), encoding="utf-8")
    upstream = directory / "upstream.conf"
    upstream.write_text(
        f"upstream app {{\n    server 127.0.0.1:{colors.ports['blue']} weight=100;\n"
        f"    server 127.0.0.1:{colors.ports['green']} down;\n}}\n",
        encoding="utf-8",
    )
    subprocess.run([binary, "-c", str(config)], check=True, capture_output=True, timeout=30)
    proxy = Nginx(binary, directory, config, upstream, port)
    try:
        _wait(lambda: probe(proxy.url) == "blue", 10, "nginx serving blue")
        yield proxy
    finally:
        subprocess.run([binary, "-c", str(config), "-s", "stop"], capture_output=True, timeout=30, check=False)


def probe(url: str) -> str:
    try:
        host, _, rest = url.removeprefix("http://").partition("/")
        name, _, port = host.partition(":")
        conn = http.client.HTTPConnection(name, int(port), timeout=2)
        conn.request("GET", "/" + rest, headers={"Connection": "close"})
        body = conn.getresponse().read().decode().strip()
        conn.close()
        return body
    except OSError:
        return ""


class Load:
    """Bounded load: ``threads`` clients, keep-alive or a new connection per request, until
    stopped, ``max_requests`` per client, or ``max_seconds``."""

    def __init__(
        self,
        url: str,
        *,
        keep_alive: int = 2,
        close: int = 1,
        max_requests: int = 20_000,
        max_seconds: float = 30.0,
        pace: float = 0.002,
    ) -> None:
        self.url = url
        host, _, _ = url.removeprefix("http://").partition("/")
        self.host, _, port = host.partition(":")
        self.port = int(port)
        self.results: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.pace = pace
        self.threads = [threading.Thread(target=self._run, args=(True,), daemon=True) for _ in range(keep_alive)]
        self.threads += [threading.Thread(target=self._run, args=(False,), daemon=True) for _ in range(close)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        time.sleep(0.3)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def _run(self, keep_alive: bool) -> None:
        deadline = time.monotonic() + self.max_seconds
        conn: http.client.HTTPConnection | None = None
        for _ in range(self.max_requests):
            if self.stop_event.is_set() or time.monotonic() > deadline:
                break
            try:
                if conn is None or not keep_alive:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
                headers = {} if keep_alive else {"Connection": "close"}
                conn.request("GET", "/", headers=headers)
                response = conn.getresponse()
                body = response.read().decode().strip()
                outcome = body if response.status == 200 else f"HTTP {response.status}"
                if not keep_alive:
                    conn.close()
            except (OSError, http.client.HTTPException) as error:
                outcome = f"error {type(error).__name__}"
                conn = None
            with self.lock:
                self.results.append((time.monotonic(), outcome))
            time.sleep(self.pace)

    def counts(self, since: float = 0.0) -> Counter[str]:
        with self.lock:
            return Counter(outcome for t, outcome in self.results if t >= since)

    def failures(self) -> list[str]:
        return [o for _, o in self.results if o not in ("blue", "green")]


def sample(url: str, n: int) -> Counter[str]:
    return Counter(probe(url) for _ in range(n))
