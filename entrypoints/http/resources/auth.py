"""/auth: register, login, refresh, logout, password reset, me."""

from __future__ import annotations

import falcon

from application import auth
from entrypoints.http.middleware import request_meta
from entrypoints.http.operation import operation, render
from entrypoints.http.schemas import (
    ForgotPasswordIn,
    LoginIn,
    RefreshIn,
    RegisterIn,
    ResetPasswordIn,
    SessionOut,
    TokensOut,
    UserOut,
)

TAGS = ("auth",)


class RegisterResource:
    def __init__(self, register: auth.Register):
        self._register = register

    @operation(
        summary="Create an account (role viewer, no lab)",
        tags=TAGS,
        status=201,
        request=RegisterIn,
        response=SessionOut,
        auth=False,
        errors=(400, 409, 415, 429),
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body: RegisterIn = req.context.body
        session = self._register(
            auth.RegisterCommand(email=body.email, password=body.password, name=body.name),
            request_meta(req),
        )
        render(resp, SessionOut, session, status=201)


class LoginResource:
    def __init__(self, login: auth.Login):
        self._login = login

    @operation(
        summary="Sign in with email and password",
        tags=TAGS,
        request=LoginIn,
        response=SessionOut,
        auth=False,
        errors=(400, 401, 415, 423, 429),
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body: LoginIn = req.context.body
        session = self._login(
            auth.LoginCommand(email=body.email, password=body.password), request_meta(req)
        )
        render(resp, SessionOut, session)


class RefreshResource:
    def __init__(self, refresh: auth.Refresh):
        self._refresh = refresh

    @operation(
        summary="Exchange a refresh token for a new token pair (rotation)",
        tags=TAGS,
        request=RefreshIn,
        response=TokensOut,
        auth=False,
        errors=(400, 401, 415),
        description=(
            "Refresh tokens are single-use. Presenting a used one revokes the whole session."
        ),
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body: RefreshIn = req.context.body
        render(resp, TokensOut, self._refresh(body.refresh_token))


class LogoutResource:
    def __init__(self, logout: auth.Logout):
        self._logout = logout

    @operation(
        summary="Revoke the current access token and its refresh token",
        tags=TAGS,
        status=204,
        errors=(401,),
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._logout(req.context.principal)
        resp.status = 204


class ForgotPasswordResource:
    def __init__(self, forgot: auth.ForgotPassword):
        self._forgot = forgot

    @operation(
        summary="Email a single-use password-reset link",
        tags=TAGS,
        status=202,
        request=ForgotPasswordIn,
        auth=False,
        errors=(400, 415, 429),
        description="Always answers 202, whether or not the address has an account.",
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body: ForgotPasswordIn = req.context.body
        self._forgot(body.email, request_meta(req))
        resp.status = 202
        resp.media = {"status": "accepted"}


class ResetPasswordResource:
    def __init__(self, reset: auth.ResetPassword):
        self._reset = reset

    @operation(
        summary="Choose a new password with a reset token",
        tags=TAGS,
        status=204,
        request=ResetPasswordIn,
        auth=False,
        errors=(400, 415),
        description="Ends every session of the account.",
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body: ResetPasswordIn = req.context.body
        self._reset(
            auth.ResetPasswordCommand(token=body.token, password=body.password), request_meta(req)
        )
        resp.status = 204


class MeResource:
    """The profile comes from authentication itself: one lookup for the whole request."""

    @operation(summary="The signed-in user", tags=TAGS, response=UserOut, errors=(401,))
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        render(resp, UserOut, req.context.auth.identity().user)
