"""UserRepository: deleted users are invisible; filters, sorting and paging agree."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import pytest

from domain.model import Lab, User
from domain.paging import PageRequest, Sort
from domain.ports import USER_SORT_FIELDS, UserQuery
from domain.roles import Role
from entrypoints.container import Container
from tests.factories import T0, LabFactory, UserFactory


def _ids(users: list[User]) -> list[object]:
    return [u.id for u in users]


def test_get_and_get_by_email_hide_deleted_users(
    container: Container, save: Callable[..., None]
) -> None:
    gone = UserFactory(email="gone@lab.example", deleted_at=T0)
    live = UserFactory(email="live@lab.example")
    save(gone, live)
    with container.uow() as uow:
        assert uow.users.get(gone.id) is None
        assert uow.users.get_by_email("gone@lab.example") is None
        assert uow.users.get(live.id) is not None
        found = uow.users.get_by_email("live@lab.example")
        assert found is not None
        assert found.id == live.id
        assert uow.users.get(uuid4()) is None
        assert uow.users.get_by_email("nobody@lab.example") is None
        assert _ids(uow.users.list(UserQuery()).items) == [live.id]


def test_count_active_admins_ignores_inactive_deleted_and_other_roles(
    container: Container, save: Callable[..., None]
) -> None:
    save(
        UserFactory(role=Role.ADMIN),
        UserFactory(role=Role.ADMIN),
        UserFactory(role=Role.ADMIN, is_active=False),
        UserFactory(role=Role.ADMIN, deleted_at=T0),
        UserFactory(role=Role.VIEWER),
    )
    with container.uow() as uow:
        assert uow.users.count_active_admins() == 2


@pytest.fixture
def two_labs(save: Callable[..., None]) -> tuple[Lab, Lab]:
    north, south = LabFactory(name="North"), LabFactory(name="South")
    save(north, south)
    return north, south


@pytest.fixture
def directory(two_labs: tuple[Lab, Lab], save: Callable[..., None]) -> dict[str, User]:
    """Seven live users (with ties and missing values) and one deleted user."""
    north, south = two_labs
    h = timedelta(hours=1)
    users = {
        "alice": UserFactory(
            email="alice@north.example",
            name="Alice Martin",
            role=Role.ADMIN,
            lab_id=north.id,
            created_at=T0,
            last_login_at=T0 + 3 * h,
        ),
        "bob": UserFactory(
            email="bob@north.example",
            name="Bob Stone",
            role=Role.TECHNICIAN,
            lab_id=north.id,
            created_at=T0,
            last_login_at=None,
        ),
        "carol": UserFactory(
            email="carol@south.example",
            name="Carol Martínez",
            role=Role.TECHNICIAN,
            lab_id=south.id,
            created_at=T0 + h,
            last_login_at=T0 + h,
        ),
        "dave": UserFactory(
            email="dave@south.example",
            name="dave under_score",
            role=Role.VIEWER,
            lab_id=south.id,
            created_at=T0 + h,
            is_active=False,
            last_login_at=None,
        ),
        "erin": UserFactory(
            email="erin@south.example",
            name="Erin underXscore",
            role=Role.VIEWER,
            lab_id=None,
            created_at=T0 + 2 * h,
            last_login_at=T0 + 3 * h,
        ),
        "frank": UserFactory(
            email="frank@north.example",
            name="Frank 100% Sure",
            role=Role.TECHNICIAN,
            lab_id=north.id,
            created_at=T0,
            last_login_at=T0 + 2 * h,
        ),
        "gina": UserFactory(
            email="gina@north.example",
            name="Gina Martin",
            role=Role.VIEWER,
            lab_id=north.id,
            created_at=T0 + 3 * h,
            last_login_at=None,
        ),
        "zed": UserFactory(
            email="zed.martin@north.example",
            name="Zed Martin",
            role=Role.ADMIN,
            lab_id=north.id,
            created_at=T0,
            deleted_at=T0 + h,
        ),
    }
    save(*users.values())
    return users


def _names(container: Container, query: UserQuery) -> list[str]:
    with container.uow() as uow:
        return [u.email.split("@")[0] for u in uow.users.list(query).items]


def test_filters(
    container: Container, directory: dict[str, User], two_labs: tuple[Lab, Lab]
) -> None:
    north = two_labs[0].id
    by_email = Sort("email")
    assert _names(container, UserQuery(role=Role.TECHNICIAN, sort=by_email)) == [
        "bob",
        "carol",
        "frank",
    ]
    assert _names(container, UserQuery(lab_id=north, sort=by_email)) == [
        "alice",
        "bob",
        "frank",
        "gina",
    ]
    assert _names(container, UserQuery(is_active=False, sort=by_email)) == ["dave"]
    assert _names(container, UserQuery(is_active=True, sort=by_email)) == [
        "alice",
        "bob",
        "carol",
        "erin",
        "frank",
        "gina",
    ]
    combined = UserQuery(role=Role.VIEWER, lab_id=north, is_active=True, sort=by_email)
    assert _names(container, combined) == ["gina"]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("MARTIN", ["alice", "gina"]),  # name, any case; the deleted Zed Martin stays hidden
        ("martín", ["carol"]),  # non-ASCII text matches itself
        ("SOUTH.EX", ["carol", "dave", "erin"]),  # email, any case
        ("under_", ["dave"]),  # LIKE wildcards are literal text
        ("100%", ["frank"]),
        ("nobody", []),
    ],
)
def test_search_is_case_insensitive_on_email_and_name(
    container: Container, directory: dict[str, User], search: str, expected: list[str]
) -> None:
    assert _names(container, UserQuery(search=search, sort=Sort("email"))) == expected


def _expected_order(users: list[User], field: str, descending: bool) -> list[str]:
    present = [u for u in users if getattr(u, field) is not None]
    missing = [u for u in users if getattr(u, field) is None]
    present.sort(key=lambda u: u.id)
    present.sort(key=lambda u: getattr(u, field), reverse=descending)
    missing.sort(key=lambda u: u.id)
    return [u.email.split("@")[0] for u in present + missing]


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("field", USER_SORT_FIELDS)
def test_sorting_puts_nulls_last_and_breaks_ties_by_id(
    container: Container, directory: dict[str, User], field: str, descending: bool
) -> None:
    live = [u for key, u in directory.items() if key != "zed"]
    expected = _expected_order(live, field, descending)
    got = _names(
        container, UserQuery(sort=Sort(field, descending=descending), page=PageRequest(limit=100))
    )
    assert got == expected


def test_sorting_by_last_login_has_ties_and_nulls(
    container: Container, directory: dict[str, User]
) -> None:
    """Pin the fixture: the generic sort test really exercises ties and nulls."""
    got = _names(container, UserQuery(sort=Sort("last_login_at", descending=True)))
    assert set(got[:2]) == {"alice", "erin"}  # tied at T0+3h
    assert got[2:4] == ["frank", "carol"]
    assert set(got[4:]) == {"bob", "dave", "gina"}  # never logged in: last, both ways
    got_asc = _names(container, UserQuery(sort=Sort("last_login_at")))
    assert got_asc[:2] == ["carol", "frank"]
    assert set(got_asc[4:]) == {"bob", "dave", "gina"}


def test_pagination_totals_and_has_more(container: Container, directory: dict[str, User]) -> None:
    sort = Sort("email")
    with container.uow() as uow:
        pages = [
            uow.users.list(UserQuery(sort=sort, page=PageRequest(limit=3, offset=offset)))
            for offset in (0, 3, 6, 9)
        ]
        paged_ids = [u.id for p in pages for u in p.items]
        everything = uow.users.list(UserQuery(sort=sort, page=PageRequest(limit=100)))
        all_ids = _ids(everything.items)
        filtered = uow.users.list(
            UserQuery(role=Role.VIEWER, sort=sort, page=PageRequest(limit=2, offset=0))
        )
        filtered_len = len(filtered.items)
    assert [p.total for p in pages] == [7, 7, 7, 7]
    assert [len(p.items) for p in pages] == [3, 3, 1, 0]
    assert [p.has_more for p in pages] == [True, True, False, False]
    assert [p.total_pages for p in pages] == [3, 3, 3, 3]
    assert [p.request.page for p in pages] == [1, 2, 3, 4]
    assert paged_ids == all_ids
    assert len(set(all_ids)) == 7
    assert everything.has_more is False
    assert (filtered.total, filtered_len, filtered.has_more) == (3, 2, True)


def test_default_query_sorts_newest_first(container: Container, directory: dict[str, User]) -> None:
    got = _names(container, UserQuery())
    assert got[0] == "gina"  # created last
    assert got[1] == "erin"
