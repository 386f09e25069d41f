"""A small TCP proxy for e2e tests that can cut a connection in the middle of a message.

    with TcpProxy("127.0.0.1", server.port) as proxy:
        client = HttpTransport(proxy.base_url)
        proxy.cut_request_after(20_000)   # the next request loses its tail: never processed
        proxy.cut_response_after(100)     # the next response loses its tail: processed, unseen

Every accepted connection gets an upstream connection of its own and two pump threads
(client → server, server → client). A cut is one-shot: once armed, the bytes flowing in
that direction are counted (from the moment of arming, on whichever connection carries
them); when the count would pass the limit, the proxy forwards exactly up to the limit and
then closes both sides of that connection. `cuts` lists what was cut, for assertions.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

REQUEST = "request"  # client → server
RESPONSE = "response"  # server → client
CHUNK = 65_536


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server((host, 0))
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._armed: dict[str, int] = {}  # direction → bytes still allowed through
        self._limits: dict[str, int] = {}  # direction → the armed limit
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self.connections = 0
        self.cuts: list[tuple[str, int]] = []  # (direction, bytes let through before the cut)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- control -----------------------------------------------------------------------

    def cut_request_after(self, nbytes: int) -> None:
        """Cut the connection once `nbytes` more client → server bytes have passed."""
        with self._lock:
            self._armed[REQUEST] = self._limits[REQUEST] = nbytes

    def cut_response_after(self, nbytes: int) -> None:
        """Cut the connection once `nbytes` more server → client bytes have passed."""
        with self._lock:
            self._armed[RESPONSE] = self._limits[RESPONSE] = nbytes

    def armed(self) -> bool:
        with self._lock:
            return bool(self._armed)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> TcpProxy:
        self._spawn(self._accept_loop)
        return self

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
                server.settimeout(None)
            except OSError:
                _shut(client)
                continue
            with self._lock:
                self.connections += 1
                self._sockets.update((client, server))
            self._spawn(self._pump, client, server, REQUEST)
            self._spawn(self._pump, server, client, RESPONSE)

    def _pump(self, source: socket.socket, target: socket.socket, direction: str) -> None:
        try:
            while True:
                data = source.recv(CHUNK)
                if not data:
                    break
                cut_at = self._allowance(direction, len(data))
                if cut_at is None:
                    target.sendall(data)
                    continue
                if cut_at:
                    target.sendall(data[:cut_at])
                break  # cut: close both sides below
        except OSError:
            pass
        finally:
            _shut(source)
            _shut(target)
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(target)

    def _allowance(self, direction: str, size: int) -> int | None:
        """None: forward all of it; else forward this many bytes, then cut."""
        with self._lock:
            left = self._armed.get(direction)
            if left is None:
                return None
            if size <= left:
                self._armed[direction] = left - size
                return None
            del self._armed[direction]
            self.cuts.append((direction, self._limits.pop(direction)))
            return left


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
