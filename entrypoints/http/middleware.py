"""Cross-cutting HTTP concerns: request ids, client address, logs, metrics, headers, auth."""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import falcon

from application.auth import Authenticated
from application.context import Principal, RequestMeta
from domain.errors import RateLimited, Unauthenticated
from domain.ports import RateLimit, RateLimiter
from entrypoints.http.errors import ApiError
from entrypoints.http.metrics import HttpMetrics

log = logging.getLogger("aqualab.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
)


def client_address(remote: str, forwarded_for: str | None, trusted: list[Network]) -> str:
    """Walk X-Forwarded-For from the right while hops are trusted proxies."""
    if not trusted or not forwarded_for:
        return remote
    hops = [remote] + [h.strip() for h in reversed(forwarded_for.split(",")) if h.strip()]
    for index, hop in enumerate(hops):
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return hops[index - 1] if index else remote
        if not any(address in network for network in trusted):
            return hop
    return hops[-1]


class RequestContextMiddleware:
    """Request id, timing, access log line, metrics and security headers for every response."""

    def __init__(
        self, *, metrics: HttpMetrics, trusted_proxies: list[Network], max_body_bytes: int
    ):
        self._metrics = metrics
        self._trusted = trusted_proxies
        self._max_body = max_body_bytes

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()
        incoming = req.get_header("X-Request-ID")
        req.context.request_id = (
            incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        )
        req.context.client_ip = client_address(
            req.remote_addr or "unknown", req.get_header("X-Forwarded-For"), self._trusted
        )
        req.context.max_body_bytes = self._max_body
        req.context.principal = None
        if "\x00" in req.path:  # no resource has a NUL in its name; PostgreSQL refuses one
            raise ApiError(404, "NOT_FOUND", "Resource not found")
        if req.content_length is not None and req.content_length > self._max_body:
            raise ApiError(
                413, "PAYLOAD_TOO_LARGE", f"The request body exceeds {self._max_body} bytes"
            )

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        resp.set_header("X-Request-ID", req.context.request_id)
        for name, value in SECURITY_HEADERS.items():
            resp.set_header(name, value)
        is_docs = req.path.startswith("/api/v1/docs")
        resp.set_header("Content-Security-Policy", DOCS_CSP if is_docs else API_CSP)
        if not is_docs:
            resp.set_header("Cache-Control", "no-store")
        duration = time.perf_counter() - req.context.started
        status = resp.status_code
        route = req.uri_template or "unmatched"
        self._metrics.observe(req.method, route, status, duration)
        if not log.isEnabledFor(logging.INFO):
            return
        principal: Principal | None = req.context.principal
        log.info(
            "request",
            extra={
                "method": req.method,
                "path": req.path,
                "route": route,
                "status": status,
                "duration_ms": round(duration * 1000, 2),
                "request_id": req.context.request_id,
                "user_id": str(principal.user_id) if principal else None,
                "client_ip": req.context.client_ip,
            },
        )


class VaryByOrigin:
    """Beside falcon's CORS policy: the answer depends on the caller's `Origin`, so no
    shared cache may hand one origin's answer (with or without its
    Access-Control-Allow-Origin) to another."""

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        varies = resp.get_header("Vary") or ""
        if "origin" not in (name.strip().lower() for name in varies.split(",")):
            resp.append_header("Vary", "Origin")


class RequestAuth:
    """Authenticates lazily: only operations that need a principal pay for the lookup."""

    def __init__(
        self,
        header: str | None,
        authenticate: Callable[[str], Authenticated],
        limiter: RateLimiter,
        api_rate: RateLimit,
    ):
        self._header = header
        self._authenticate = authenticate
        self._limiter = limiter
        self._api_rate = api_rate
        self._identity: Authenticated | None = None

    def require(self) -> Principal:
        return self.identity().principal

    def identity(self) -> Authenticated:
        if self._identity is not None:
            return self._identity
        if not self._header:
            raise Unauthenticated("Missing bearer token")
        scheme, _, token = self._header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Expected 'Authorization: Bearer <token>'")
        identity = self._authenticate(token.strip())
        decision = self._limiter.hit(f"api:{identity.principal.user_id}", self._api_rate)
        if not decision.allowed:
            raise RateLimited(decision.retry_after_seconds)
        self._identity = identity
        return identity


class AuthMiddleware:
    def __init__(
        self,
        authenticate: Callable[[str], Authenticated],
        limiter: RateLimiter,
        api_rate: RateLimit,
    ):
        self._authenticate = authenticate
        self._limiter = limiter
        self._api_rate = api_rate

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.auth = RequestAuth(
            req.get_header("Authorization"), self._authenticate, self._limiter, self._api_rate
        )


def request_meta(req: falcon.Request, *, device_id: str | None = None) -> RequestMeta:
    reason = req.get_header("X-Change-Reason")
    return RequestMeta(
        request_id=req.context.request_id,
        reason=reason[:1000] if reason else None,
        device_id=device_id,
        client_ip=req.context.client_ip,
    )
