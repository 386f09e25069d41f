"""Access tokens signed by a Better Auth front end (`BETTER_AUTH_SECRET`, seed 003).

They go through the same port as AquaLab's own tokens: a second verifier, picked by
the token's issuer. `sub` names an AquaLab user; role and lab come from AquaLab.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import falcon.testing
import jwt
import pytest

from entrypoints.config import ConfigError
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from tests.unit.test_http_api import Api, assert_error

SHARED = "better-auth-shared-secret-" + "x" * 40  # 64+ bytes: no HS512 key warning
ISSUER = "https://app.lab.example"
AUDIENCE = "aqualab-api"


def better_auth_token(
    sub: object,
    *,
    secret: str = SHARED,
    expires_in: int = 3600,
    algorithm: str = "HS256",
    **claims: Any,
) -> str:
    now = int(time.time())
    payload = {"sub": str(sub), "iat": now, "exp": now + expires_in, **claims}
    return jwt.encode(payload, secret, algorithm=algorithm)


def _api(make_settings, **settings: Any) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    container = build_container(make_settings(AQUALAB_STORAGE="memory", **settings))
    yield Api(falcon.testing.TestClient(create_app(container)), container)
    container.shutdown_resources()


@pytest.fixture
def api(make_settings) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    yield from _api(make_settings, better_auth_secret=SHARED)


@pytest.fixture
def strict_api(make_settings) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    yield from _api(
        make_settings,
        better_auth_secret=SHARED,
        better_auth_issuer=ISSUER,
        better_auth_audience=AUDIENCE,
    )


@pytest.fixture
def unconfigured_api(make_settings) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    yield from _api(make_settings)


def register(api: Api, email: str = "field@lab.ma") -> dict[str, Any]:
    result = api.call(
        "POST", "/auth/register", json={"email": email, "password": "Passw0rdX", "name": "F"}
    )
    assert result.status_code == 201, result.text
    return dict(result.json["user"])


def me(api: Api, token: str) -> falcon.testing.Result:
    return api.call("GET", "/auth/me", token=token)


def test_a_valid_token_names_an_aqualab_user_whose_role_comes_from_aqualab(api: Api) -> None:
    user = register(api)
    # A role or lab claimed in the token is ignored: AquaLab's database decides.
    token = better_auth_token(user["id"], role="admin", lab_id=str(uuid.uuid4()))
    result = me(api, token)
    assert result.status_code == 200, result.text
    assert result.json["id"] == user["id"]
    assert result.json["role"] == "viewer"
    assert_error(api.call("GET", "/users", token=token), 403, "FORBIDDEN")


def test_expired_token_is_refused(api: Api) -> None:
    user = register(api)
    assert_error(me(api, better_auth_token(user["id"], expires_in=-120)), 401, "UNAUTHORIZED")


def test_wrong_secret_is_refused(api: Api) -> None:
    user = register(api)
    forged = better_auth_token(user["id"], secret="not-the-shared-secret-but-as-long-as-it")
    assert_error(me(api, forged), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("sub", [uuid.uuid4(), "user_8f2k3j", ""])
def test_a_sub_that_is_no_aqualab_user_is_refused(api: Api, sub: object) -> None:
    register(api)
    assert_error(me(api, better_auth_token(sub)), 401, "UNAUTHORIZED")


def test_a_token_of_one_user_cannot_reach_another_users_task_list(api: Api) -> None:
    first, second = register(api, "first@lab.ma"), register(api, "second@lab.ma")
    token = better_auth_token(first["id"])
    own = api.call("GET", f"/{first['id']}/tasks", token=token)
    assert own.status_code == 200, own.text
    assert_error(api.call("GET", f"/{second['id']}/tasks", token=token), 403, "FORBIDDEN")
    created = api.call("POST", f"/{second['id']}/tasks", token=token, json={"title": "Not mine"})
    assert_error(created, 403, "FORBIDDEN")


def test_a_deactivated_user_is_refused_at_once(api: Api) -> None:
    user = register(api)
    token = better_auth_token(user["id"])
    assert me(api, token).status_code == 200
    admin = api.admin_token()
    assert api.call("DELETE", f"/users/{user['id']}", token=admin).status_code == 204
    assert_error(me(api, token), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("algorithm", ["HS512", "none"])
def test_only_hs256_is_accepted(api: Api, algorithm: str) -> None:
    user = register(api)
    if algorithm == "none":
        token = jwt.encode(
            {"sub": user["id"], "exp": int(time.time()) + 600}, None, algorithm="none"
        )
    else:
        token = better_auth_token(user["id"], algorithm=algorithm)
    assert_error(me(api, token), 401, "UNAUTHORIZED")


def test_the_shared_secret_cannot_sign_an_aqualab_token(api: Api) -> None:
    """A token claiming AquaLab as issuer is checked with AquaLab's key only."""
    user = register(api)
    token = better_auth_token(
        user["id"], iss="aqualab", sid=str(uuid.uuid4()), jti=uuid.uuid4().hex
    )
    assert_error(me(api, token), 401, "UNAUTHORIZED")


def test_aqualab_tokens_keep_working_next_to_better_auth(api: Api) -> None:
    assert me(api, api.admin_token()).status_code == 200


def test_issuer_and_audience_are_checked_when_configured(strict_api: Api) -> None:
    user = register(strict_api)
    good = better_auth_token(user["id"], iss=ISSUER, aud=AUDIENCE)
    assert me(strict_api, good).status_code == 200
    for bad in (
        better_auth_token(user["id"], iss="https://evil.example", aud=AUDIENCE),
        better_auth_token(user["id"], iss=ISSUER, aud="another-api"),
        better_auth_token(user["id"]),
    ):
        assert_error(me(strict_api, bad), 401, "UNAUTHORIZED")


def test_without_the_secret_better_auth_tokens_are_refused(unconfigured_api: Api) -> None:
    user = register(unconfigured_api)
    assert_error(me(unconfigured_api, better_auth_token(user["id"])), 401, "UNAUTHORIZED")


def test_a_short_shared_secret_stops_the_start(make_settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="BETTER_AUTH_SECRET"):
        make_settings(better_auth_secret="too-short")


def test_logout_ends_no_better_auth_session(api: Api) -> None:
    """Documented: AquaLab holds no session for these tokens; Better Auth ends them."""
    user = register(api)
    token = better_auth_token(user["id"])
    assert api.call("POST", "/auth/logout", token=token).status_code == 204
    assert me(api, token).status_code == 200
