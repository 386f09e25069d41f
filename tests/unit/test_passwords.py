"""Password hashing: OWASP-minimum argon2id, old hashes upgraded on login, GIL released."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from adapters.passwords import PasslibPasswordHasher
from entrypoints.config import ConfigError, load_settings
from tests.unit.conftest import World

OLD_DEFAULT = {"memory_kib": 65536, "time_cost": 3, "parallelism": 4}
OWASP_PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$"


def test_defaults_are_owasp_minimum_and_each_parameter_is_configurable() -> None:
    settings = load_settings()
    assert (
        settings.password_hash_memory_kib,
        settings.password_hash_time_cost,
        settings.password_hash_parallelism,
    ) == (19456, 2, 1)
    assert PasslibPasswordHasher().hash("Passw0rdX").startswith(OWASP_PREFIX)
    tuned = load_settings(
        password_hash_memory_kib=47104, password_hash_time_cost=1, password_hash_parallelism=2
    )
    assert (tuned.password_hash_memory_kib, tuned.password_hash_parallelism) == (47104, 2)


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"password_hash_memory_kib": 512}, "PASSWORD_HASH_MEMORY_KIB"),
        ({"password_hash_memory_kib": 8 * 1024 * 1024}, "PASSWORD_HASH_MEMORY_KIB"),
        ({"password_hash_time_cost": 0}, "PASSWORD_HASH_TIME_COST"),
        ({"password_hash_parallelism": 0}, "PASSWORD_HASH_PARALLELISM"),
        ({"password_hash_parallelism": 1000}, "PASSWORD_HASH_PARALLELISM"),
    ],
)
def test_out_of_range_hash_cost_is_refused(overrides: dict[str, int], name: str) -> None:
    with pytest.raises(ConfigError, match=f"^invalid setting {name}:"):
        load_settings(**overrides)


def test_hash_with_the_old_default_parameters_verifies_and_gets_a_replacement() -> None:
    old_hash = PasslibPasswordHasher(**OLD_DEFAULT).hash("Passw0rdX")
    assert old_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    hasher = PasslibPasswordHasher()

    assert hasher.verify("Wrong-Passw0rd", old_hash) == (False, None)
    matches, replacement = hasher.verify("Passw0rdX", old_hash)
    assert matches and replacement is not None and replacement.startswith(OWASP_PREFIX)
    assert hasher.verify("Passw0rdX", replacement) == (True, None)  # nothing more to upgrade


def test_login_replaces_an_old_parameter_hash_with_the_configured_one(world: World) -> None:
    session = world.register()
    old_hash = PasslibPasswordHasher(**OLD_DEFAULT).hash("Passw0rdX")
    with world.uow() as uow:
        user = uow.users.get(session.user.id)
        assert user is not None
        user.password_hash = old_hash
        uow.commit()

    world.login()

    with world.uow() as uow:
        user = uow.users.get(session.user.id)
        assert user is not None
        # The world's hasher is configured at m=1024, t=1, p=1 (fast tests).
        assert user.password_hash.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    world.login()  # the replacement is the password's hash, not just any hash


# --- the GIL ------------------------------------------------------------------------------

# Pure-Python work for the other thread: far more than one GIL switch interval (5 ms),
# and far less than the deliberately slow calls below (about 1/15 of either).
PYTHON_ITERATIONS = 2_000_000


def _order_of_completion(call: Callable[[], object]) -> list[str]:
    """Start `call` in this thread and a pure-Python loop in another at the same moment;
    return which finished first. A call that holds the GIL freezes the loop until it
    returns, so the call finishes first; a call that releases it lets the loop finish."""
    finished: list[str] = []
    started = threading.Event()

    def python_loop() -> None:
        started.wait()
        total = 0
        for number in range(PYTHON_ITERATIONS):
            total += number
        finished.append("python thread")

    other = threading.Thread(target=python_loop)
    other.start()
    started.set()
    call()
    finished.append("call")
    other.join()
    return finished


def test_harness_sees_a_call_that_holds_the_gil() -> None:
    # sum() over a range runs in C without ever letting another thread take the GIL.
    assert _order_of_completion(lambda: sum(range(60_000_000))) == ["call", "python thread"]


def test_argon2id_hashing_releases_the_gil() -> None:
    # The configured memory cost with many passes, so one hash is long (over a second).
    slow = PasslibPasswordHasher(memory_kib=19456, time_cost=80, parallelism=1)
    assert _order_of_completion(lambda: slow.hash("Passw0rdX")) == ["python thread", "call"]
