"""`SyncClient`: drives `POST /api/v1/sync` round trips until the device is in sync.

One round trip
--------------
    POST /api/v1/sync  {"device_id", "cursor", "pull_limit", "mutations": [next batch]}
    200 {"last_mutation_id", "results", "conflicts", "changes", "cursor", "has_more",
         "reset_required"}

`sync()` repeats round trips until the outbox is empty and `has_more` is false. Each
response is applied to the `LocalStore` in one SQLite transaction (see
`LocalStore.apply_response`), so the store is always either before or after a response.

Failures
--------
- no answer (connection refused/reset, timeout), 502, 503, 504, 429: the *same* request is
  sent again after a backoff (`backoff * 2**attempt`, at most `max_backoff`, or the
  `Retry-After` of a 429/503), up to `retries` times, then `RetriesExhausted`. Re-sending is
  safe: mutations the server already committed come back as `duplicate`.
- 401: with credentials, log in again once and re-send; otherwise `AuthenticationError`.
- 403: the device id belongs to another user (`ForbiddenError`).
- the server stopped at a gap and acknowledged nothing new: `SyncGapError` (re-sending
  would never make progress).
- the server acknowledges mutation ids this store never issued: `SyncStateError`, raised
  before anything is acknowledged (new edits would otherwise be answered `duplicate` and
  silently lost).
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from entrypoints.sync_client.store import LocalStore
from entrypoints.sync_client.transport import HttpTransport, Response, Transport, TransportError

log = logging.getLogger("aqualab.sync_client")

API = "/api/v1"
MAX_BATCH = 1000  # mutations per request, and pull_limit, as the server allows
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class SyncError(Exception):
    """Base class of everything `SyncClient` raises."""


class SyncHTTPError(SyncError):
    """An HTTP error answer, with the server's `{"error": {...}}` envelope when present."""

    def __init__(self, status: int, body: Any, what: str) -> None:
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        self.status = status
        self.code: str | None = error.get("code")
        self.error: dict[str, Any] = error
        message = error.get("message") or "no error body"
        super().__init__(f"{what}: HTTP {status} {self.code or ''} {message}".replace("  ", " "))


class AuthenticationError(SyncHTTPError):
    """401: the token is missing, invalid, expired or revoked, or the login failed."""


class ForbiddenError(SyncHTTPError):
    """403: e.g. the device id already belongs to another user."""


class RetriesExhausted(SyncError):
    """The server stayed unreachable or unavailable (503) through every retry."""


class SyncGapError(SyncError):
    """The server stopped at a gap in the mutation ids and no progress is possible."""


class SyncStateError(SyncError):
    """The device's state and the server's disagree in a way retrying cannot fix."""


@dataclass
class SyncSummary:
    """Counts for one `sync()` call."""

    pushed: int = 0  # mutations acknowledged by the server (any status)
    applied: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    pulled: int = 0  # changes received and applied
    round_trips: int = 0  # successful POST /sync exchanges
    retries: int = 0  # re-sent requests (transient failures)
    resets: int = 0  # reset_required answers
    seconds: float = 0.0
    cursor: str | None = None
    last_mutation_id: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SyncClient:
    """Synchronises one `LocalStore` with an AquaLab server.

    Authenticate with `token` (an access token) or `credentials` (email, password: the
    client logs in when needed and again after a 401). `transport` defaults to an
    `HttpTransport(base_url, timeout)`. `sleep` is injectable so tests do not wait.
    `progress`, when given, is called with the running summary after every round trip.
    """

    def __init__(
        self,
        base_url: str,
        store: LocalStore,
        *,
        token: str | None = None,
        credentials: tuple[str, str] | None = None,
        transport: Transport | None = None,
        batch_size: int = 500,
        pull_limit: int = 500,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[SyncSummary], None] | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        if not 1 <= pull_limit <= MAX_BATCH:
            raise ValueError(f"pull_limit must be between 1 and {MAX_BATCH}")
        if token is None and credentials is None:
            raise ValueError("give a token or credentials")
        self.store = store
        self.transport: Transport = transport or HttpTransport(base_url, timeout)
        self.token = token
        self.credentials = credentials
        self.batch_size = batch_size
        self.pull_limit = pull_limit
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._progress = progress

    # -- public API --------------------------------------------------------------------

    def login(self) -> str:
        """POST /auth/login with the credentials; keeps and returns the access token."""
        if self.credentials is None:
            raise AuthenticationError(401, None, "login: no credentials to log in again")
        email, password = self.credentials
        credentials = {"email": email, "password": password}
        response = self._call(
            "POST", f"{API}/auth/login", credentials, None, "login", authenticated=False
        )
        self.token = str(response.body["tokens"]["access_token"])
        return self.token

    def sync(self) -> SyncSummary:
        """Push the whole outbox and pull until `has_more` is false; return the counts."""
        summary = SyncSummary()
        started = time.monotonic()
        while True:
            batch = self.store.next_batch(self.batch_size)
            request_cursor = self.store.cursor
            body = {
                "device_id": self.store.device_id,
                "cursor": request_cursor,
                "pull_limit": self.pull_limit,
                "mutations": [m.to_wire() for m in batch],
            }
            response = self._call("POST", f"{API}/sync", body, summary, "sync")
            data = _sync_body(response)
            self._check_acknowledgement(data)
            acknowledged_before = self.store.last_mutation_id
            outcome = self.store.apply_response(data)
            summary.round_trips += 1
            summary.pushed += outcome.acknowledged
            summary.applied += outcome.statuses.get("applied", 0)
            summary.duplicates += outcome.statuses.get("duplicate", 0)
            summary.conflicts += outcome.statuses.get("conflict", 0)
            summary.rejected += outcome.statuses.get("rejected", 0)
            summary.pulled += outcome.pulled
            log.info(
                "sync round trip %d: sent %d, acknowledged up to %d, pulled %d, has_more=%s",
                summary.round_trips,
                len(batch),
                data["last_mutation_id"],
                outcome.pulled,
                data.get("has_more"),
            )
            if batch and outcome.acknowledged == 0:
                raise SyncGapError(
                    f"device {self.store.device_id}: the server's last_mutation_id is "
                    f"{data['last_mutation_id']} but this device's next unsent mutation is "
                    f"{batch[0].mutation_id} (acknowledged up to {acknowledged_before}); the "
                    "server stopped at the gap. Mutations in between are missing on the server "
                    "(restored from a backup? device id reused with another store?)"
                )
            if outcome.reset:
                summary.resets += 1
                if request_cursor is None:
                    raise SyncStateError("the server asked for a reset of a pull from the start")
                log.warning("server asked for a reset: discarding synced records, pulling again")
            elif (
                data.get("has_more")
                and not batch
                and outcome.pulled == 0
                and data.get("cursor") == request_cursor
            ):
                raise SyncStateError("the server says has_more but its cursor does not move")
            summary.cursor = self.store.cursor
            summary.last_mutation_id = self.store.last_mutation_id
            summary.seconds = time.monotonic() - started
            if self._progress is not None:
                self._progress(summary)
            if not outcome.reset and not data.get("has_more") and not self.store.pending_count():
                return summary

    def status(self) -> dict[str, Any] | None:
        """GET /sync/status for this device; None when the server does not know it yet."""
        query = urllib.parse.urlencode({"device_id": self.store.device_id})
        response = self._call(
            "GET",
            f"{API}/sync/status?{query}",
            None,
            None,
            "status",
            ok_statuses=frozenset({200, 404}),
        )
        if response.status == 404:
            return None
        body: dict[str, Any] = response.body
        return body

    def content_hash(self, entity: str) -> str:
        """The local store's `content_hash(entity)`."""
        return self.store.content_hash(entity)

    def close(self) -> None:
        close = getattr(self.transport, "close", None)
        if callable(close):
            close()

    # -- plumbing ----------------------------------------------------------------------

    def _check_acknowledgement(self, data: Mapping[str, Any]) -> None:
        issued = self.store.next_mutation_id - 1
        last = data["last_mutation_id"]
        if last > issued:
            raise SyncStateError(
                f"device {self.store.device_id}: the server has processed mutation ids up to "
                f"{last} but this store has only issued up to {issued}; new edits would be "
                "taken for duplicates. Use a new device id for this store."
            )

    def _call(
        self,
        method: str,
        path: str,
        body: Any | None,
        summary: SyncSummary | None,
        what: str,
        *,
        authenticated: bool = True,
        ok_statuses: frozenset[int] = frozenset({200}),
    ) -> Response:
        """Send; retry transient failures; log in again once after a 401 (with credentials).

        Returns responses whose status is in `ok_statuses`, raises `SyncHTTPError` (or a
        subclass) for any other, `RetriesExhausted` when the retries run out.
        """
        if authenticated and self.token is None:
            self.login()
        relogged = False
        attempt = 0
        while True:
            headers = {"Authorization": f"Bearer {self.token}"} if authenticated else {}
            try:
                response = self.transport.request(method, path, body, headers)
            except TransportError as exc:
                delay, problem = self._delay(attempt, None), str(exc)
            else:
                if response.status in ok_statuses:
                    return response
                if response.status == 401 and authenticated and self.credentials and not relogged:
                    log.info("%s: HTTP 401, logging in again", what)
                    relogged = True
                    self.login()
                    continue
                if response.status not in RETRY_STATUSES:
                    raise _http_error(response, what)
                delay = self._delay(attempt, response.headers.get("retry-after"))
                problem = f"HTTP {response.status}"
            if attempt >= self.retries:
                raise RetriesExhausted(f"{what}: gave up after {attempt + 1} attempts ({problem})")
            attempt += 1
            if summary is not None:
                summary.retries += 1
            log.warning("%s: %s; retry %d/%d in %.1fs", what, problem, attempt, self.retries, delay)
            self._sleep(delay)

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(float(retry_after), self.max_backoff)
            except ValueError:
                pass
        return float(min(self.backoff * 2**attempt, self.max_backoff))


def _http_error(response: Response, what: str) -> SyncHTTPError:
    if response.status == 401:
        return AuthenticationError(response.status, response.body, what)
    if response.status == 403:
        return ForbiddenError(response.status, response.body, what)
    return SyncHTTPError(response.status, response.body, what)


def _sync_body(response: Response) -> dict[str, Any]:
    body = response.body
    if response.status != 200 or not isinstance(body, dict):
        raise SyncError(f"sync: unexpected answer HTTP {response.status}")
    for key in ("last_mutation_id", "results", "changes"):
        if key not in body:
            raise SyncError(f"sync: the response has no {key!r}")
    if not isinstance(body["last_mutation_id"], int):
        raise SyncError("sync: last_mutation_id is not an integer")
    return body
