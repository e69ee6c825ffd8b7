"""``/api/v1/auth``: thin translations between HTTP and :class:`AuthService`."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from server.auth.guards import ApiRequest, principal_of, signed_in
from server.auth.schemas import LoggedOut, LoginIn, RefreshIn, RegisterIn, TokensOut, UserOut
from server.auth.service import AuthService, TokenPair
from server.http.client_address import client_address
from server.http.envelope import Envelope, ok

# Answers that carry tokens are never stored by a browser or a proxy (RFC 6749 §5.1, §2).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _tokens(pair: TokenPair) -> TokensOut:
    return TokensOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        user=UserOut.of(pair.user),
    )


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/register", status_code=201, summary="Create an account")
    async def register(
        self, data: JSONBody[RegisterIn], auth_service: NamedDependency[AuthService]
    ) -> Envelope[UserOut]:
        user = await auth_service.register(
            email=data.email.strip(), password=data.password, name=data.name.strip(), role=data.role
        )
        return ok(UserOut.of(user))

    @post(
        "/login",
        status_code=200,
        summary="Exchange email and password for tokens",
        response_headers=NO_STORE,
    )
    async def login(
        self,
        request: ApiRequest,
        data: JSONBody[LoginIn],
        auth_service: NamedDependency[AuthService],
    ) -> Envelope[TokensOut]:
        pair = await auth_service.login(
            email=data.email.strip(),
            password=data.password,
            client_address=client_address(request.scope),
        )
        return ok(_tokens(pair))

    @post(
        "/refresh",
        status_code=200,
        summary="Rotate a refresh token into a new pair",
        response_headers=NO_STORE,
    )
    async def refresh(
        self, data: JSONBody[RefreshIn], auth_service: NamedDependency[AuthService]
    ) -> Envelope[TokensOut]:
        return ok(_tokens(await auth_service.refresh(data.refresh_token)))

    @post("/logout", status_code=200, summary="Revoke a refresh token")
    async def logout(
        self, data: JSONBody[RefreshIn], auth_service: NamedDependency[AuthService]
    ) -> Envelope[LoggedOut]:
        await auth_service.logout(data.refresh_token)
        return ok(LoggedOut())

    @get(
        "/me",
        guards=[signed_in],
        summary="The signed-in user",
    )
    async def me(
        self, request: ApiRequest, auth_service: NamedDependency[AuthService]
    ) -> Envelope[UserOut]:
        principal = principal_of(request)
        return ok(UserOut.of(await auth_service.get_user(principal.user_id)))
