"""Slow clients and oversized or endless bodies do not exhaust the server.

Against the default transport (waitress, 4 threads here) the test holds far more slow
connections than there are threads — slowloris connections that dribble their headers a
byte at a time and never finish, and uploads that declare a body and send it a byte at a
time — while other connections push endless chunked bodies and bodies declared larger
than `MAX_BODY_BYTES`. Meanwhile ordinary requests on fresh connections (health, list,
create) are all answered, fast; the endless bodies are answered 413 or cut after a
bounded number of bytes; the oversized ones get 413 without being read; the slow
connections are still open (held, not dropped to make room); and the server's memory
does not grow with the junk. waitress reads every request whole in its I/O thread
before a worker thread sees it, which is why slow clients never hold a thread.

gunicorn's sync workers read the request in the worker itself: a slow client holds a
worker (docs/deploy.md: run it behind a buffering proxy). What holds there is checked
too: an endless chunked body is cut at `MAX_BODY_BYTES` and an oversized declared body
is 413, and the worker serves the next request.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.e2e.client import Api
from tests.live_server import HOST, LiveServer, live_server

pytestmark = pytest.mark.e2e

ADMIN = ("slow-client-admin@e2e.example", "Slow-Cl1ent-Admin")
MAX_BODY_BYTES = 64 * 1024
THREADS = 4
SLOWLORIS = 40  # connections dribbling their headers
SLOW_BODIES = 20  # connections dribbling a declared body
ENDLESS_BODIES = 12  # chunked bodies that never end, 4 at a time
NORMAL_REQUESTS = 30
FAST = 5.0  # seconds: generous for a shared machine
DRIBBLE_SECONDS = 0.3  # between two bytes of one slow connection
# waitress's own ceiling is max(2 x MAX_BODY_BYTES, MAX_BODY_BYTES + 1 MiB) (cmd_serve); the
# socket buffers of both ends let a few MiB more through before a cut is felt.
ENDLESS_CUT_BOUND = 16 * 2**20
JUNK_GUARD = 256 * 2**20  # an endless body that gets this far was never cut
RSS_GROWTH_BOUND = 48 * 2**20
CHUNK = 64 * 1024
GUNICORN_WORKER_TIMEOUT = 3  # seconds (WORKER_TIMEOUT); 60 in production


def _raw(port: int, head: bytes, timeout: float = 10) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=timeout)
    sock.sendall(head)
    return sock


@dataclass
class Dribbler:
    """Keeps connections busy: one more byte each every DRIBBLE_SECONDS, never the end."""

    sockets: list[socket.socket] = field(default_factory=list)
    bytes_sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(DRIBBLE_SECONDS):
            for sock in self.sockets:
                with contextlib.suppress(OSError):  # a closed one is found by still_open()
                    sock.send(b"a")
                    self.bytes_sent += 1

    def still_open(self) -> int:
        """Connections the server neither answered nor closed."""
        count = 0
        for sock in self.sockets:
            sock.setblocking(False)
            try:
                data = sock.recv(1)
            except BlockingIOError:
                count += 1  # nothing to read, no EOF: held open
                continue
            except OSError:
                continue
            finally:
                sock.setblocking(True)
            assert not data, f"a slow connection got an answer: {data!r}"
        return count

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()


@contextlib.contextmanager
def slow_connections(
    port: int, token: str, *, slowloris: int = SLOWLORIS, slow_bodies: int = SLOW_BODIES
) -> Iterator[Dribbler]:
    dribbler = Dribbler()
    try:
        for n in range(slowloris):  # headers never end: the dribble extends a header line
            dribbler.sockets.append(
                _raw(port, f"GET /api/v1/samples HTTP/1.1\r\nHost: x\r\nX-Slow-{n}: ".encode())
            )
        for _ in range(slow_bodies):  # a body under the limit, a byte at a time
            dribbler.sockets.append(
                _raw(
                    port,
                    b"POST /api/v1/samples HTTP/1.1\r\nHost: x\r\n"
                    b"Authorization: Bearer " + token.encode() + b"\r\n"
                    b"Content-Type: application/json\r\n"
                    b"Content-Length: " + str(MAX_BODY_BYTES // 2).encode() + b"\r\n\r\n",
                )
            )
        dribbler.start()
        yield dribbler
    finally:
        dribbler.close()


@dataclass(frozen=True)
class Cut:
    sent: int  # body bytes the server took before it answered or closed
    answer: bytes  # what came back (may be empty: the connection was cut)


def endless_chunked_body(port: int, path: str = "/api/v1/auth/login") -> Cut:
    """POST a chunked body that never ends; stop when the server answers or closes."""
    sock = _raw(
        port,
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode(),
    )
    chunk = f"{CHUNK:x}\r\n".encode() + b"[" * CHUNK + b"\r\n"
    sent = 0
    with sock:
        try:
            while sent < JUNK_GUARD:
                sock.sendall(chunk)
                sent += CHUNK
        except OSError:
            pass  # the server closed (or reset) the connection: the body was cut
        return Cut(sent, _read_answer(sock))


def oversized_declared_body(port: int, declared: int) -> tuple[bytes, float]:
    """Declare `declared` bytes, send none: the answer must not wait for the body."""
    started = time.monotonic()
    sock = _raw(
        port,
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(declared).encode() + b"\r\n\r\n",
        timeout=FAST * 2,
    )
    with sock:
        return _read_answer(sock), time.monotonic() - started


def _read_answer(sock: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def _status(answer: bytes) -> int | None:
    if not answer.startswith(b"HTTP/1."):
        return None
    return int(answer.split(b" ", 2)[1])


def _json_error_code(answer: bytes) -> str | None:
    head, _, body = answer.partition(b"\r\n\r\n")
    if b"application/json" not in head.lower():
        return None
    return str(json.loads(body)["error"]["code"])


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _technician_token(api: Api) -> str:
    admin = api.token(*ADMIN)
    lab = api.create_lab(admin)
    tech = api.create_user(admin, role="technician", lab_id=lab["id"], password="Techn1cianPass")
    return api.token(tech["email"], "Techn1cianPass")


def _normal_traffic(server: LiveServer, token: str, count: int = NORMAL_REQUESTS) -> list[float]:
    """Ordinary requests, each on a connection of its own; returns their latencies."""
    auth = {"Authorization": f"Bearer {token}"}
    calls: list[Callable[[], requests.Response]] = [
        lambda: requests.get(server.url("/api/v1/health/live"), timeout=FAST * 4),
        lambda: requests.get(server.url("/api/v1/samples?limit=5"), headers=auth, timeout=FAST * 4),
        lambda: requests.post(
            server.url("/api/v1/samples"),
            headers=auth,
            json={
                "type": "ground",
                "location": "Slow client well",
                "collection_date": "2025-03-01",
                "collector_name": "Nadia",
            },
            timeout=FAST * 4,
        ),
    ]
    latencies = []
    for n in range(count):
        started = time.monotonic()
        response = calls[n % len(calls)]()
        latencies.append(time.monotonic() - started)
        assert response.status_code in (200, 201), response.text
    return latencies


def test_slow_and_endless_clients_do_not_exhaust_waitress(log_secrets: set[str]) -> None:
    log_secrets.add(ADMIN[1])
    args = ["--storage", "memory", "--admin-email", ADMIN[0], "--admin-password", ADMIN[1]]
    env = {"MAX_BODY_BYTES": str(MAX_BODY_BYTES)}
    with live_server(args=args, env=env, threads=THREADS) as server:
        assert server.process is not None
        token = _technician_token(Api(server.base_url, log_secrets))
        _normal_traffic(server, token)  # warm up: the baseline memory is a served one
        rss_before = _rss(server.process.pid)

        with slow_connections(server.port, token) as slow, ThreadPoolExecutor(4) as junk:
            time.sleep(DRIBBLE_SECONDS * 3)  # every slow connection has started to dribble
            cuts = junk.map(lambda _: endless_chunked_body(server.port), range(ENDLESS_BODIES))
            oversized = [
                oversized_declared_body(server.port, size) for size in (10**10, 2**31, 2**21)
            ]
            latencies = _normal_traffic(server, token)
            cuts_made = list(cuts)
            held = slow.still_open()
            rss_after = _rss(server.process.pid)

        # More slow connections than threads, all held open, and the rest served fast.
        assert held == SLOWLORIS + SLOW_BODIES > THREADS
        assert max(latencies) < FAST, f"slowest normal request {max(latencies):.1f}s"
        for cut in cuts_made:
            assert cut.sent < ENDLESS_CUT_BOUND, f"{cut.sent} bytes of an endless body taken"
            assert _status(cut.answer) in (413, None), cut.answer[:200]
        for answer, seconds in oversized:
            assert _status(answer) == 413, answer[:200]
            assert seconds < FAST
        junk_bytes = sum(c.sent for c in cuts_made)
        assert rss_after - rss_before < RSS_GROWTH_BOUND, (rss_before, rss_after, junk_bytes)
        assert _normal_traffic(server, token)  # still serving after the junk is gone
        assert server.is_running()

    print(
        f"\nwaitress, {THREADS} threads: slow connections held={held} "
        f"(slowloris {SLOWLORIS}, slow bodies {SLOW_BODIES}); normal requests "
        f"answered={NORMAL_REQUESTS} max {max(latencies):.2f}s; endless bodies={len(cuts_made)} "
        f"(413 answers {sum(_status(c.answer) == 413 for c in cuts_made)}, largest taken "
        f"{max(c.sent for c in cuts_made)} B, junk total {junk_bytes / 2**20:.0f} MiB); "
        f"oversized declared: {[_status(a) for a, _ in oversized]}; "
        f"RSS {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB"
    )


def test_gunicorn_cuts_endless_and_oversized_bodies_and_serves_on(
    fresh_database: Callable[[], str], log_secrets: set[str]
) -> None:
    log_secrets.add(ADMIN[1])
    args = ["--workers", "1", "--admin-email", ADMIN[0], "--admin-password", ADMIN[1]]
    env = {"MAX_BODY_BYTES": str(MAX_BODY_BYTES)}
    with live_server(database_url=fresh_database(), args=args, env=env) as server:
        api = Api(server.base_url, log_secrets)
        token = _technician_token(api)
        # One sync worker: each answer below proves the worker was freed for the next one.
        for _ in range(3):
            cut = endless_chunked_body(server.port)
            assert cut.sent < ENDLESS_CUT_BOUND, cut.sent
            assert _status(cut.answer) in (413, None), cut.answer[:200]
            if cut.answer:
                assert _json_error_code(cut.answer) == "PAYLOAD_TOO_LARGE"
            answer, seconds = oversized_declared_body(server.port, 10**10)
            assert _status(answer) == 413 and seconds < FAST, answer[:200]
            assert _json_error_code(answer) == "PAYLOAD_TOO_LARGE"
            assert max(_normal_traffic(server, token, 3)) < FAST

        # A chunked body within the limit is read, not taken for an empty one.
        def login_chunks() -> Iterator[bytes]:
            yield json.dumps({"email": ADMIN[0], "password": ADMIN[1]}).encode()

        signed_in = api.post(
            "/auth/login", data=login_chunks(), headers={"Content-Type": "application/json"}
        )
        assert signed_in.status_code == 200, signed_in.text
        assert server.is_running()


def test_gunicorn_worker_held_by_a_slow_client_is_freed_by_the_worker_timeout(
    fresh_database: Callable[[], str],
) -> None:
    """One sync worker, one slowloris connection: the worker is stuck reading it until
    gunicorn's timeout kills it; its replacement serves the request that waited."""
    args = ["--workers", "1"]
    env = {"WORKER_TIMEOUT": str(GUNICORN_WORKER_TIMEOUT)}
    with live_server(database_url=fresh_database(), args=args, env=env) as server:
        with slow_connections(server.port, "", slowloris=1, slow_bodies=0) as slow:
            time.sleep(DRIBBLE_SECONDS * 3)  # the worker has taken the slow connection
            started = time.monotonic()
            waited = requests.get(server.url("/api/v1/health/live"), timeout=40)
            seconds = time.monotonic() - started
            assert waited.status_code == 200, waited.text
            # The slow client is let go: cut, or gunicorn's own 500 as its worker aborts.
            (held,) = slow.sockets
            assert _status(_read_answer(held)) in (500, None)
        assert server.wait_for_log(lambda r: "WORKER TIMEOUT" in str(r.get("event")))
        assert server.is_running()
    print(f"\ngunicorn: a request behind a slow client waited {seconds:.1f}s")
