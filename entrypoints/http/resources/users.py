"""/users (admin)."""

from __future__ import annotations

from uuid import UUID

import falcon

from application import users
from domain.paging import Sort
from domain.ports import USER_SORT_FIELDS, UserQuery
from entrypoints.http.common import (
    caller,
    if_match,
    list_payload,
    page_request,
    set_etag,
    sort_spec,
)
from entrypoints.http.operation import operation, render
from entrypoints.http.schemas import (
    UserCreateIn,
    UserList,
    UserListQuery,
    UserOut,
    UserPatchIn,
    UserPutIn,
)

TAGS = ("users",)


class UsersResource:
    def __init__(self, list_users: users.ListUsers, create_user: users.CreateUser):
        self._list = list_users
        self._create = create_user

    @operation(
        summary="List users",
        tags=TAGS,
        query=UserListQuery,
        response=UserList,
        errors=(400, 401, 403),
        description=f"Sort by: {', '.join(USER_SORT_FIELDS)} (default `-created_at`). "
        "`search` matches email and name.",
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        q: UserListQuery = req.context.query
        query = UserQuery(
            role=q.role,
            lab_id=q.lab_id,
            is_active=q.is_active,
            search=q.search,
            sort=sort_spec(q, USER_SORT_FIELDS, Sort("created_at", descending=True)),
            page=page_request(q),
        )
        render(resp, UserList, list_payload(self._list(caller(req), query)))

    @operation(
        summary="Create a user",
        tags=TAGS,
        status=201,
        request=UserCreateIn,
        response=UserOut,
        errors=(400, 401, 403, 409, 415),
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body: UserCreateIn = req.context.body
        view = self._create(
            caller(req),
            users.CreateUserCommand(
                email=body.email,
                password=body.password,
                name=body.name,
                role=body.role,
                lab_id=body.lab_id,
                id=body.id,
            ),
        )
        render(resp, UserOut, view, status=201)
        set_etag(resp, view.version)
        resp.location = f"/api/v1/users/{view.id}"


class UserResource:
    def __init__(
        self,
        get_user: users.GetUser,
        update_user: users.UpdateUser,
        delete_user: users.DeleteUser,
    ):
        self._get = get_user
        self._update = update_user
        self._delete = delete_user

    @operation(summary="Get a user", tags=TAGS, response=UserOut, errors=(401, 403, 404))
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: UUID) -> None:
        view = self._get(caller(req), user_id)
        render(resp, UserOut, view)
        set_etag(resp, view.version)

    @operation(
        summary="Replace a user's profile, role, lab and status",
        tags=TAGS,
        request=UserPutIn,
        response=UserOut,
        errors=(400, 401, 403, 404, 409, 412, 415),
        headers=("If-Match",),
    )
    def on_put(self, req: falcon.Request, resp: falcon.Response, user_id: UUID) -> None:
        body: UserPutIn = req.context.body
        view = self._update(
            caller(req),
            users.UpdateUserCommand(
                user_id=user_id,
                email=body.email,
                name=body.name,
                role=body.role,
                lab_id=body.lab_id,
                lab_id_set=True,
                is_active=body.is_active,
                expected_version=body.version,
                if_match=if_match(req),
            ),
        )
        render(resp, UserOut, view)
        set_etag(resp, view.version)

    @operation(
        summary="Change some of a user's fields (or password)",
        tags=TAGS,
        request=UserPatchIn,
        response=UserOut,
        errors=(400, 401, 403, 404, 409, 412, 415),
        headers=("If-Match",),
    )
    def on_patch(self, req: falcon.Request, resp: falcon.Response, user_id: UUID) -> None:
        body: UserPatchIn = req.context.body
        view = self._update(
            caller(req),
            users.UpdateUserCommand(
                user_id=user_id,
                email=body.email,
                name=body.name,
                role=body.role,
                lab_id=body.lab_id,
                lab_id_set="lab_id" in body.model_fields_set,
                is_active=body.is_active,
                password=body.password,
                expected_version=body.version,
                if_match=if_match(req),
            ),
        )
        render(resp, UserOut, view)
        set_etag(resp, view.version)

    @operation(
        summary="Deactivate and hide a user (their audit history stays)",
        tags=TAGS,
        status=204,
        errors=(401, 403, 404, 409, 412),
        headers=("If-Match",),
    )
    def on_delete(self, req: falcon.Request, resp: falcon.Response, user_id: UUID) -> None:
        self._delete(caller(req), user_id, if_match=if_match(req))
        resp.status = 204
