"""The "done when" story over real HTTP: an admin from the CLI manages labs and users."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.client import Api, error_of, unique_email
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_LAB, ADMIN_PASSWORD, MainServer
from tests.live_server import LiveServer, run_cli

pytestmark = pytest.mark.e2e


def test_cli_admin_can_sign_in_and_sees_itself(main_server: MainServer, api: Api) -> None:
    assert f"admin {ADMIN_EMAIL} ready" in main_server.create_admin_output

    session = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert session["user"]["role"] == "admin"
    assert session["user"]["lab_id"] is not None
    assert "password" not in str(session["user"]).lower()
    tokens = session["tokens"]
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] > 0

    me = api.get("/auth/me", token=tokens["access_token"])
    assert me.status_code == 200
    assert me.json()["email"] == ADMIN_EMAIL
    assert me.json()["last_login_at"] is not None
    labs = api.get("/labs", token=tokens["access_token"], params={"search": ADMIN_LAB})
    assert [lab["id"] for lab in labs.json()["data"]] == [session["user"]["lab_id"]]


def test_admin_manages_labs_and_users(api: Api, admin_token: str) -> None:
    # --- a lab, created with a reason that the audit trail keeps ----------------------
    created = api.post(
        "/labs",
        token=admin_token,
        json={"name": f"Rabat Water {uuid.uuid4().hex[:6]}", "code": "RBT"},
        headers={"X-Change-Reason": "opening the Rabat lab"},
    )
    assert created.status_code == 201, created.text
    lab = created.json()
    assert created.headers["ETag"] == '"1"'
    assert lab["version"] == 1
    fetched = api.get(f"/labs/{lab['id']}", token=admin_token)
    assert fetched.status_code == 200 and fetched.json()["name"] == lab["name"]
    renamed = api.put(
        f"/labs/{lab['id']}",
        token=admin_token,
        json={"name": lab["name"] + " Centre", "code": "RBT", "version": 1},
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.headers["ETag"] == '"2"'
    stale_lab = api.put(
        f"/labs/{lab['id']}", token=admin_token, json={"name": "Stale", "version": 1}
    )
    error_of(stale_lab, 409, "VERSION_CONFLICT")

    # --- users in that lab ----------------------------------------------------------
    tech_password, viewer_password = "Techn1cianPass", "V1ewerPassword"
    tech = api.create_user(
        admin_token,
        role="technician",
        lab_id=lab["id"],
        password=tech_password,
        email=unique_email("a-tech"),
        reason="new hire",
    )
    viewer = api.create_user(
        admin_token,
        role="viewer",
        lab_id=lab["id"],
        password=viewer_password,
        email=unique_email("b-viewer"),
    )
    other_tech = api.create_user(
        admin_token, role="technician", lab_id=lab["id"], email=unique_email("c-tech")
    )
    assert tech["role"] == "technician" and tech["lab_id"] == lab["id"]
    assert "password" not in tech and "password_hash" not in tech
    duplicate = api.post(
        "/users",
        token=admin_token,
        json={
            "email": tech["email"],
            "password": "An0therPass",
            "name": "Dup",
            "role": "viewer",
            "lab_id": lab["id"],
        },
    )
    error_of(duplicate, 409, "EMAIL_EXISTS")

    # --- list: filters, sort, pagination meta ---------------------------------------
    techs = api.get(
        "/users", token=admin_token, params={"lab_id": lab["id"], "role": "technician"}
    ).json()
    assert {u["id"] for u in techs["data"]} == {tech["id"], other_tech["id"]}
    assert techs["meta"]["total"] == 2

    page1 = api.get(
        "/users",
        token=admin_token,
        params={"lab_id": lab["id"], "sort": "email", "limit": 2, "page": 1},
    ).json()
    assert [u["id"] for u in page1["data"]] == [tech["id"], viewer["id"]]
    assert page1["meta"] == {
        "total": 3,
        "page": 1,
        "limit": 2,
        "total_pages": 2,
        "has_more": True,
        "total_exact": True,
    }
    page2 = api.get(
        "/users",
        token=admin_token,
        params={"lab_id": lab["id"], "sort": "email", "limit": 2, "page": 2},
    ).json()
    assert [u["id"] for u in page2["data"]] == [other_tech["id"]]
    assert page2["meta"]["has_more"] is False
    descending = api.get(
        "/users", token=admin_token, params={"lab_id": lab["id"], "sort": "-email"}
    ).json()
    assert [u["id"] for u in descending["data"]] == [other_tech["id"], viewer["id"], tech["id"]]
    by_offset = api.get(
        "/users",
        token=admin_token,
        params={"lab_id": lab["id"], "sort": "email", "order": "desc", "offset": 1, "limit": 1},
    ).json()
    assert [u["id"] for u in by_offset["data"]] == [viewer["id"]]
    searched = api.get(
        "/users", token=admin_token, params={"search": viewer["email"].split("@")[0]}
    ).json()
    assert [u["id"] for u in searched["data"]] == [viewer["id"]]
    error_of(api.get("/users", token=admin_token, params={"limit": 101}), 400, "VALIDATION_ERROR")
    bad_sort = api.get("/users", token=admin_token, params={"sort": "password_hash"})
    assert "sort" in error_of(bad_sort, 400, "VALIDATION_ERROR")["field_errors"]

    # --- optimistic concurrency: ETag, If-Match (412), body version (409) ------------
    one = api.get(f"/users/{tech['id']}", token=admin_token)
    assert one.status_code == 200 and one.headers["ETag"] == '"1"'
    stale_if_match = api.patch(
        f"/users/{tech['id']}",
        token=admin_token,
        headers={"If-Match": '"7"'},
        json={"name": "Never applied"},
    )
    error_of(stale_if_match, 412, "PRECONDITION_FAILED")
    patched = api.patch(
        f"/users/{tech['id']}",
        token=admin_token,
        headers={"If-Match": one.headers["ETag"], "X-Change-Reason": "name typo"},
        json={"name": "Amina Technician"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["ETag"] == '"2"'
    assert patched.json()["name"] == "Amina Technician" and patched.json()["version"] == 2
    stale_version = api.patch(
        f"/users/{tech['id']}", token=admin_token, json={"name": "Lost update", "version": 1}
    )
    error_of(stale_version, 409, "VERSION_CONFLICT")
    assert api.get(f"/users/{tech['id']}", token=admin_token).json()["name"] == "Amina Technician"
    put_body = {
        "name": "Amina B.",
        "role": "technician",
        "lab_id": lab["id"],
        "is_active": True,
        "version": 2,
    }
    stale_put = api.put(
        f"/users/{tech['id']}", token=admin_token, headers={"If-Match": '"1"'}, json=put_body
    )
    error_of(stale_put, 412, "PRECONDITION_FAILED")
    replaced = api.put(f"/users/{tech['id']}", token=admin_token, json=put_body)
    assert replaced.status_code == 200, replaced.text
    assert replaced.headers["ETag"] == '"3"' and replaced.json()["name"] == "Amina B."
    error_of(
        api.put(f"/users/{tech['id']}", token=admin_token, json=put_body), 409, "VERSION_CONFLICT"
    )

    # --- roles: the viewer and the technician get 403 on admin endpoints -------------
    viewer_token = api.token(viewer["email"], viewer_password)
    tech_token = api.token(tech["email"], tech_password)
    assert api.get("/auth/me", token=viewer_token).json()["role"] == "viewer"
    for token in (viewer_token, tech_token):
        error_of(api.get("/users", token=token), 403, "FORBIDDEN")
        error_of(api.get(f"/users/{tech['id']}", token=token), 403, "FORBIDDEN")
        error_of(api.post("/labs", token=token, json={"name": "Rogue lab"}), 403, "FORBIDDEN")
        error_of(api.get("/audit-logs", token=token), 403, "FORBIDDEN")
        error_of(api.get("/audit-logs/verify", token=token), 403, "FORBIDDEN")
    error_of(
        api.patch(f"/users/{viewer['id']}", token=viewer_token, json={"role": "admin"}),
        403,
        "FORBIDDEN",
    )
    error_of(api.get("/users"), 401, "UNAUTHORIZED")

    # --- DELETE: the user is hidden and their token stops working at once ------------
    assert api.get("/auth/me", token=tech_token).status_code == 200
    deleted = api.delete(
        f"/users/{tech['id']}", token=admin_token, headers={"X-Change-Reason": "left the lab"}
    )
    assert deleted.status_code == 204, deleted.text
    error_of(api.get("/auth/me", token=tech_token), 401, "UNAUTHORIZED")
    error_of(api.get(f"/users/{tech['id']}", token=admin_token), 404, "NOT_FOUND")
    remaining = api.get("/users", token=admin_token, params={"lab_id": lab["id"]}).json()
    assert tech["id"] not in {u["id"] for u in remaining["data"]}
    login_deleted = api.post(
        "/auth/login", json={"email": tech["email"], "password": tech_password}
    )
    error_of(login_deleted, 401, "INVALID_CREDENTIALS")

    # --- the audit trail holds every change, with the reasons -----------------------
    history = api.get(
        "/audit-logs",
        token=admin_token,
        params={"entity_type": "user", "entity_id": tech["id"], "limit": 100},
    )
    assert history.status_code == 200, history.text
    entries = history.json()["data"]
    assert [e["action"] for e in entries] == ["delete", "update", "update", "create"]  # newest 1st
    assert [e["reason"] for e in entries] == ["left the lab", None, "name typo", "new hire"]
    create_entry = entries[-1]
    assert create_entry["new_values"]["email"] == tech["email"]
    assert "password_hash" not in str(create_entry["new_values"])
    assert entries[2]["old_values"]["name"] == "E2E User"
    assert entries[2]["new_values"]["name"] == "Amina Technician"
    admin_id = api.get("/auth/me", token=admin_token).json()["id"]
    assert {e["user_id"] for e in entries} == {admin_id}
    assert all(e["request_id"] for e in entries)
    assert patched.headers["X-Request-ID"] in {e["request_id"] for e in entries}

    lab_history = api.get(
        "/audit-logs", token=admin_token, params={"entity_type": "lab", "entity_id": lab["id"]}
    ).json()
    assert [(e["action"], e["reason"]) for e in lab_history["data"]] == [
        ("update", None),
        ("create", "opening the Rabat lab"),
    ]
    deletes = api.get(
        "/audit-logs",
        token=admin_token,
        params={"action": "delete", "entity_type": "user", "user_id": admin_id},
    ).json()
    assert tech["id"] in {e["entity_id"] for e in deletes["data"]}

    verify = api.get("/audit-logs/verify", token=admin_token)
    assert verify.status_code == 200, verify.text
    report = verify.json()
    assert report["ok"] is True
    assert report["checked"] >= 8
    assert report["first_bad_id"] is None


def test_cli_verify_audit_agrees(main_server: MainServer, api: Api, admin_token: str) -> None:
    api.create_lab(admin_token)
    result = run_cli("verify-audit", env=main_server.server.env)
    assert result.returncode == 0, result.stderr
    assert '"ok": true' in result.stdout


def test_logout_revokes_access_and_refresh_token(
    api: Api, admin_token: str, lab: dict[str, Any]
) -> None:
    password = "Logout-Pass1"
    user = api.create_user(admin_token, role="viewer", lab_id=lab["id"], password=password)
    session = api.login(user["email"], password)
    other = api.login(user["email"], password)  # a second device stays signed in
    access, refresh = session["tokens"]["access_token"], session["tokens"]["refresh_token"]
    assert api.get("/auth/me", token=access).status_code == 200

    error_of(api.post("/auth/logout"), 401, "UNAUTHORIZED")
    logout = api.post("/auth/logout", token=access)
    assert logout.status_code == 204
    error_of(api.get("/auth/me", token=access), 401, "UNAUTHORIZED")
    error_of(api.post("/auth/refresh", json={"refresh_token": refresh}), 401, "UNAUTHORIZED")
    assert api.get("/auth/me", token=other["tokens"]["access_token"]).status_code == 200


def test_refresh_rotates_and_reuse_revokes_the_family(
    api: Api, admin_token: str, lab: dict[str, Any]
) -> None:
    password = "Refresh-Pass1"
    user = api.create_user(admin_token, role="technician", lab_id=lab["id"], password=password)
    first = api.login(user["email"], password)["tokens"]

    rotated = api.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert api.get("/auth/me", token=second["access_token"]).json()["id"] == user["id"]

    newest = api.post("/auth/refresh", json={"refresh_token": second["refresh_token"]}).json()
    assert api.get("/auth/me", token=newest["access_token"]).status_code == 200

    # The first token comes back (a stolen copy): the whole family is revoked.
    error_of(
        api.post("/auth/refresh", json={"refresh_token": first["refresh_token"]}),
        401,
        "UNAUTHORIZED",
    )
    error_of(
        api.post("/auth/refresh", json={"refresh_token": newest["refresh_token"]}),
        401,
        "UNAUTHORIZED",
    )
    error_of(api.get("/auth/me", token=newest["access_token"]), 401, "UNAUTHORIZED")
    error_of(
        api.post("/auth/refresh", json={"refresh_token": "not-a-real-token"}), 401, "UNAUTHORIZED"
    )
    # Signing in again starts a fresh family.
    assert api.login(user["email"], password)["tokens"]["access_token"]


def test_forgot_and_reset_password_through_the_console_mailer(
    api: Api, server: LiveServer, admin_token: str, lab: dict[str, Any]
) -> None:
    old_password, new_password = "Old-Passw0rd", "Brand-New-Passw0rd"
    user = api.create_user(admin_token, role="viewer", lab_id=lab["id"], password=old_password)
    old_session = api.login(user["email"], old_password)["tokens"]["access_token"]

    unknown = api.post("/auth/forgot-password", json={"email": unique_email("nobody")})
    assert unknown.status_code == 202
    mark = len(server.stdout())
    accepted = api.post("/auth/forgot-password", json={"email": user["email"]})
    assert accepted.status_code == 202
    assert accepted.json() == unknown.json()

    mail = server.wait_for_stdout(
        rf"----- mail to {user['email']}: [^\n]*-----\n(?s:.*?)"
        rf"http://127\.0\.0\.1:{server.port}/reset-password\?token=(\S+)",
        start=mark,
    )
    token = mail.group(1)
    api.remember(token)

    weak = api.post("/auth/reset-password", json={"token": token, "password": "short"})
    assert "password" in error_of(weak, 400, "VALIDATION_ERROR")["field_errors"]
    reset = api.post("/auth/reset-password", json={"token": token, "password": new_password})
    assert reset.status_code == 204, reset.text

    error_of(
        api.post("/auth/login", json={"email": user["email"], "password": old_password}),
        401,
        "INVALID_CREDENTIALS",
    )
    assert api.login(user["email"], new_password)["user"]["id"] == user["id"]
    error_of(api.get("/auth/me", token=old_session), 401, "UNAUTHORIZED")  # sessions ended
    again = api.post("/auth/reset-password", json={"token": token, "password": "An0ther-Passw0rd"})
    assert "token" in error_of(again, 400, "VALIDATION_ERROR")["field_errors"]
    assert api.login(user["email"], new_password)["user"]["id"] == user["id"]


def test_lockout_after_repeated_failures(api: Api, admin_token: str, lab: dict[str, Any]) -> None:
    from tests.e2e.conftest import LOCKOUT_ATTEMPTS

    password = "Lockout-Pass1"
    user = api.create_user(admin_token, role="viewer", lab_id=lab["id"], password=password)
    wrong = {"email": user["email"], "password": "Wrong-Passw0rd"}
    for _ in range(LOCKOUT_ATTEMPTS - 1):
        error_of(api.post("/auth/login", json=wrong), 401, "INVALID_CREDENTIALS")
    locked = error_of(api.post("/auth/login", json=wrong), 423, "ACCOUNT_LOCKED")
    assert locked["details"]["retry_after"] > 0
    # Now even the right password is refused until the lock expires.
    right = api.post("/auth/login", json={"email": user["email"], "password": password})
    error_of(right, 423, "ACCOUNT_LOCKED")
    # An unknown email is never "locked": it keeps answering like a wrong password.
    for _ in range(LOCKOUT_ATTEMPTS + 1):
        unknown = api.post("/auth/login", json={"email": unique_email("ghost"), "password": "x"})
        error_of(unknown, 401, "INVALID_CREDENTIALS")
    # The admin can still work, and another user is unaffected.
    assert api.get("/auth/me", token=admin_token).status_code == 200


def test_register_then_duplicate(api: Api) -> None:
    email = unique_email("self")
    body = {"email": email, "password": "Self-Reg1ster", "name": "Self Registered"}
    registered = api.post("/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    assert registered.json()["user"]["role"] == "viewer"
    assert registered.json()["user"]["lab_id"] is None
    assert registered.headers["Cache-Control"] == "no-store"
    token = registered.json()["tokens"]["access_token"]
    assert api.get("/auth/me", token=token).json()["email"] == email
    error_of(api.post("/auth/register", json=body), 409, "EMAIL_EXISTS")
    error_of(api.get("/users", token=token), 403, "FORBIDDEN")
