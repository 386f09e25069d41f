"""A thin `requests` client for the e2e tests that remembers every secret it handles.

Every password sent and every token received passes through here, so the log test
can assert that none of them ever reached the server's logs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import requests

if TYPE_CHECKING:
    from tests.live_server import LiveServer

API = "/api/v1"
TIMEOUT = 10


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@e2e.example"


class Api:
    def __init__(self, base_url: str, secrets: set[str]):
        self.base_url = base_url
        self.secrets = secrets
        self.http = requests.Session()

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/api/") or path == "/" else API + path)

    def remember(self, *values: str | None) -> None:
        self.secrets.update(v for v in values if v)

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        if isinstance(json, dict):
            self.remember(json.get("password"), json.get("refresh_token"), json.get("token"))
        response = self.http.request(
            method,
            self.url(path),
            json=json,
            headers=all_headers,
            timeout=kwargs.pop("timeout", TIMEOUT),
            allow_redirects=False,
            **kwargs,
        )
        self._remember_tokens(response)
        return response

    def _remember_tokens(self, response: requests.Response) -> None:
        if not response.headers.get("Content-Type", "").startswith("application/json"):
            return
        try:
            body = response.json()
        except ValueError:
            return
        if isinstance(body, dict):
            tokens = body.get("tokens", body)
            if isinstance(tokens, dict):
                self.remember(tokens.get("access_token"), tokens.get("refresh_token"))

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    # --- flows ---------------------------------------------------------------------

    def login(self, email: str, password: str) -> dict[str, Any]:
        """Sign in; returns {"user", "tokens"} and fails the test on anything but 200."""
        response = self.post("/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def token(self, email: str, password: str) -> str:
        return self.login(email, password)["tokens"]["access_token"]  # type: ignore[no-any-return]

    def create_user(
        self,
        admin_token: str,
        *,
        role: str,
        lab_id: str | None,
        password: str = "Techn1cianPass",
        name: str = "E2E User",
        email: str | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        headers = {"X-Change-Reason": reason} if reason else None
        response = self.post(
            "/users",
            token=admin_token,
            headers=headers,
            json={
                "email": email or unique_email(role),
                "password": password,
                "name": name,
                "role": role,
                "lab_id": lab_id,
            },
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def create_sample(
        self, token: str, lab_id: str, location: str, collection_date: str = "2025-05-01"
    ) -> dict[str, Any]:
        response = self.post(
            "/samples",
            token=token,
            json={
                "lab_id": lab_id,
                "type": "drinking",
                "location": location,
                "collection_date": collection_date,
                "collector_name": f"{location} collector",
            },
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def create_lab(self, admin_token: str, name: str | None = None) -> dict[str, Any]:
        response = self.post(
            "/labs",
            token=admin_token,
            json={"name": name or f"Lab {uuid.uuid4().hex[:8]}", "code": uuid.uuid4().hex[:6]},
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]


def error_of(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    """Assert the SPEC's error envelope with this status and code; return the error object."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message", "details", "field_errors", "request_id", "timestamp"} <= set(error)
    assert error["code"] == code, error
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert error["timestamp"].endswith("Z")
    assert isinstance(error["message"], str) and error["message"]
    return error  # type: ignore[no-any-return]


MIN_SECRET_LENGTH = 8


def secrets_in_logs(server: LiveServer, secrets: Iterable[str]) -> list[str]:
    """The secrets found in what a `LiveServer` wrote: its stderr (the JSON log), or its
    stdout outside the console mails (which carry reset links on purpose in development).
    Also the database password and the signing keys the server was given."""
    outside_mails = re.sub(
        r"----- mail to .*?----- end of mail -----", "", server.stdout(), flags=re.S
    )
    keys = ("JWT_SECRET", "BETTER_AUTH_SECRET", "METRICS_TOKEN")
    everything = set(secrets) | {server.env[name] for name in keys if server.env.get(name)}
    db_password = urlsplit(server.env.get("DATABASE_URL", "")).password
    if db_password:
        everything.add(unquote(db_password))
    stderr = server.stderr()
    # Shorter values (e.g. the "x" a malformed-body test sends as a password) are no one's
    # password (policy: at least 8 characters) and would match any log by chance.
    return [
        s for s in everything if len(s) >= MIN_SECRET_LENGTH and (s in stderr or s in outside_mails)
    ]
