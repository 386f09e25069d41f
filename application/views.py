"""Plain output data returned by use cases; transports render them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from domain.model import Lab, User
from domain.paging import Page

T = TypeVar("T")


@dataclass(frozen=True)
class UserView:
    id: UUID
    email: str
    name: str
    role: str
    lab_id: UUID | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None
    version: int

    @classmethod
    def of(cls, user: User) -> UserView:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            role=user.role.value,
            lab_id=user.lab_id,
            is_active=user.is_active,
            created_at=user.created_at,
            updated_at=user.updated_at,
            last_login_at=user.last_login_at,
            version=user.version,
        )


@dataclass(frozen=True)
class LabView:
    id: UUID
    name: str
    code: str | None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, lab: Lab) -> LabView:
        return cls(
            id=lab.id,
            name=lab.name,
            code=lab.code,
            created_at=lab.created_at,
            updated_at=lab.updated_at,
            version=lab.version,
        )


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"


@dataclass(frozen=True)
class Session:
    user: UserView
    tokens: TokenPair


@dataclass(frozen=True)
class PageView(Generic[T]):
    items: list[T]
    total: int
    page: int
    limit: int
    total_pages: int
    has_more: bool

    @classmethod
    def of(cls, page: Page[Any], items: list[T]) -> PageView[T]:
        return cls(
            items=items,
            total=page.total,
            page=page.request.page,
            limit=page.request.limit,
            total_pages=page.total_pages,
            has_more=page.has_more,
        )
