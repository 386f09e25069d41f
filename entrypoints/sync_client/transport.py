"""How the sync client talks HTTP: a one-method `Transport` protocol and its default implementation.

`SyncClient` never touches sockets itself; it calls `transport.request(method, path, body,
headers)` and gets back `(status, headers, json_body)`. `HttpTransport` implements that over
`http.client` with one keep-alive connection; tests inject an in-process fake instead.

A transport raises `TransportError` when no HTTP answer arrived (refused, reset, timed out,
dropped mid-response). The request may or may not have been processed by the server: the
sync protocol makes re-sending the same batch safe, so the client simply retries.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.parse
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

log = logging.getLogger("aqualab.sync_client")


class TransportError(ConnectionError):
    """No HTTP response was received (the server may still have processed the request)."""


class Response(NamedTuple):
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: Any  # the decoded JSON body; None when empty or not JSON


class Transport(Protocol):
    def request(
        self,
        method: str,
        path: str,
        body: Any | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one request (`path` starts with /api/v1) and return the decoded response."""
        ...


class HttpTransport:
    """JSON over `http.client`, one persistent (keep-alive) connection, http or https.

    `base_url` may carry a path prefix (`https://host/aqualab`); request paths are appended.
    A stale keep-alive connection (closed by the server while idle) is reopened and the
    request re-sent once, transparently; every other network failure is a `TransportError`.
    Not thread-safe: use one transport per thread.
    """

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port][/prefix], not {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._reused = False

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self.timeout)
            self._reused = False
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self,
        method: str,
        path: str,
        body: Any | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        payload = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        all_headers = {"Accept": "application/json", **(headers or {})}
        if payload is not None:
            all_headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            conn = self._connection()
            reused = self._reused
            try:
                conn.request(method, self._prefix + path, body=payload, headers=all_headers)
                raw = conn.getresponse()
                data = raw.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if reused and attempt == 1:  # the server closed an idle keep-alive connection
                    log.debug("keep-alive connection was closed by the server; reconnecting")
                    continue
                raise TransportError(f"{method} {path}: {exc or type(exc).__name__}") from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise TransportError(f"{method} {path}: {exc or type(exc).__name__}") from exc
            self._reused = True
            if raw.will_close:
                self.close()
            return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, _decode(data))
        raise AssertionError("unreachable")  # pragma: no cover


def _decode(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None
