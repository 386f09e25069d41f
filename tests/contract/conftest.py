"""Fixtures for the contract suite: every test runs against both storages (`container`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from domain.audit import AuditEntry
from domain.lab_data import Sample, TestResult
from domain.model import Lab, User
from entrypoints.container import Container
from tests.factories import UserFactory


@pytest.fixture
def save(container: Container) -> Callable[..., None]:
    """Store users, labs, audit entries and lab data in one committed unit of work."""

    def save_(*objects: User | Lab | AuditEntry | Sample | TestResult) -> None:
        with container.uow() as uow:
            for obj in objects:
                if isinstance(obj, User):
                    uow.users.add(obj)
                elif isinstance(obj, Lab):
                    uow.labs.add(obj)
                elif isinstance(obj, Sample):
                    uow.samples.add(obj)
                elif isinstance(obj, TestResult):
                    uow.results.add(obj)
                else:
                    uow.audit.append(obj)
            uow.commit()

    return save_


@pytest.fixture
def user(save: Callable[..., None]) -> User:
    """A stored user that sessions and tokens can belong to."""
    stored = UserFactory()
    save(stored)
    return stored
