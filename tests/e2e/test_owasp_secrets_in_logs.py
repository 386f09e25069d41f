"""Secrets are never logged: every credential flow, then a search of the server's output.

On the shared e2e server (development mode: the console mailer prints reset links to
stdout, which is the one place a reset token may appear), this drives register, login
(right and wrong password), refresh, refresh reuse, logout, forgot and reset password
(a weak password, the reset, a replay of the used token), an admin setting a password,
and tokens put where they do not belong (query strings, garbled headers). Then every
password and token the `Api` client handled — this test's and every earlier test's on
this server — must be absent from stderr (the JSON log) and from stdout outside the
mails, and so must each JWT's signature, the signing key, the database password and
any password hash. test_http.py checks the request log lines themselves.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.client import Api, error_of, secrets_in_logs, unique_email
from tests.live_server import LiveServer

pytestmark = pytest.mark.e2e


def test_credential_flows_leave_no_secret_in_the_logs(
    api: Api, server: LiveServer, admin_token: str, lab: dict[str, Any], log_secrets: set[str]
) -> None:
    first_password, wrong_password = "F1rst-Secret-Pass", "Wr0ng-Secret-Pass"
    reset_password, admin_password = "Re5et-Secret-Pass", "Adm1n-Set-Secret"
    api.remember(wrong_password)
    email = unique_email("secret")

    registered = api.post(
        "/auth/register", json={"email": email, "password": first_password, "name": "Secret"}
    )
    assert registered.status_code == 201, registered.text
    user_id = registered.json()["user"]["id"]
    error_of(
        api.post("/auth/login", json={"email": email, "password": wrong_password}),
        401,
        "INVALID_CREDENTIALS",
    )
    first = api.login(email, first_password)["tokens"]
    rotated = api.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    reused = api.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    error_of(reused, 401, "UNAUTHORIZED")
    session = api.login(email, first_password)["tokens"]
    # Tokens where they do not belong: the log line keeps the path, never the query.
    api.get("/auth/me", params={"access_token": session["access_token"]})
    api.get("/auth/me", headers={"Authorization": f"Token {session['access_token']}"})
    api.get("/auth/me", headers={"Authorization": f"Bearer {session['refresh_token']}"})
    assert api.post("/auth/logout", token=session["access_token"]).status_code == 204

    mark = len(server.stdout())
    assert api.post("/auth/forgot-password", json={"email": email}).status_code == 202
    mail = server.wait_for_stdout(r"reset-password\?token=(\S+)", start=mark)
    reset_token = mail.group(1)
    api.remember(reset_token)
    api.get("/auth/reset-password", params={"token": reset_token})  # 405, token in the URL
    weak = api.post("/auth/reset-password", json={"token": reset_token, "password": "weak"})
    error_of(weak, 400, "VALIDATION_ERROR")
    done = api.post("/auth/reset-password", json={"token": reset_token, "password": reset_password})
    assert done.status_code == 204, done.text
    replay = api.post(
        "/auth/reset-password", json={"token": reset_token, "password": "An0ther-Secret-1"}
    )
    error_of(replay, 400, "VALIDATION_ERROR")
    api.login(email, reset_password)

    promoted = api.patch(
        f"/users/{user_id}",
        token=admin_token,
        json={"password": admin_password, "lab_id": lab["id"]},
    )
    assert promoted.status_code == 200, promoted.text
    api.login(email, admin_password)

    # Wait until the last request's log line is out, so nothing is still being written.
    last = api.get("/auth/me", token=admin_token, headers={"X-Request-ID": f"secrets-{user_id}"})
    server.wait_for_log(lambda r: r.get("request_id") == last.headers["X-Request-ID"])

    used = set(log_secrets)
    for password in (first_password, wrong_password, reset_password, admin_password):
        assert password in used
    signatures = {s.rsplit(".", 1)[-1] for s in used if s.count(".") == 2}
    leaked = secrets_in_logs(server, used | signatures)
    assert not leaked, f"{len(leaked)} secret value(s) found in the server's output"
    assert not re.search(r"\$argon2|\$2[aby]\$", server.stderr() + server.stdout())
    print(f"secrets in logs: {len(used)} secrets and {len(signatures)} JWT signatures absent")
