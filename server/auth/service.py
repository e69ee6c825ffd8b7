"""Account use cases: register, login, refresh with rotation, logout (contract §3)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import passwords, tokens
from server.auth.throttle import LoginThrottle
from server.errors import EmailTaken, InvalidCredentials, NotFound, RateLimited, Unauthorized
from storage.database import Database
from storage.models import User
from storage.repositories import refresh_tokens, users


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User


class AuthService:
    def __init__(
        self,
        database: Database,
        *,
        secret_key: str,
        access_ttl: int,
        refresh_ttl: int,
        login_throttle: LoginThrottle,
    ) -> None:
        self._db = database
        self._secret_key = secret_key
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl
        self._throttle = login_throttle

    async def register(self, *, email: str, password: str, name: str, role: str) -> User:
        # Argon2 is deliberately slow; off the event loop (cffi releases the GIL).
        password_hash = await asyncio.to_thread(passwords.hash_password, password)
        try:
            async with self._db.transaction() as session:
                return await users.add(
                    session, email=email, name=name, role=role, password_hash=password_hash
                )
        except users.DuplicateEmail:
            raise EmailTaken() from None

    async def login(self, *, email: str, password: str, client_address: str) -> TokenPair:
        # Counted before the password is checked, so parallel guesses cannot overtake the
        # count (server/auth/throttle.py); only a wrong password leaves it counted.
        attempt = await self._throttle.attempt(email, client_address)
        if attempt.retry_after is not None:
            raise RateLimited(
                f"Too many failed logins for this email; retry in {attempt.retry_after} s",
                details={"retry_after": attempt.retry_after},
                headers={"Retry-After": str(attempt.retry_after)},
            )
        failed = False
        try:
            async with self._db.reader() as session:
                user = await users.get_by_email(session, email)
            # Same work and the same answer whether the email is unknown or the password wrong.
            stored_hash = user.password_hash if user else None
            if not await asyncio.to_thread(passwords.verify_password, stored_hash, password):
                failed = True
                raise InvalidCredentials()
            assert user is not None
            async with self._db.transaction() as session:
                return await self._issue(session, user, family_id=uuid.uuid4())
        finally:
            if not failed:
                await self._throttle.not_a_failure(attempt)

    async def refresh(self, refresh_token: str) -> TokenPair:
        token_hash = tokens.hash_refresh_token(refresh_token)
        now = datetime.now(UTC)
        async with self._db.transaction() as session:
            rotated = await refresh_tokens.rotate(session, token_hash, now)
            if rotated is not None:
                user = await users.get(session, rotated.user_id)
                if user is not None:
                    return await self._issue(session, user, family_id=rotated.family_id)
            else:
                known = await refresh_tokens.find(session, token_hash)
                if known is not None and known.rotated_at is not None:
                    # A rotated-out token came back: it leaked. Revoke the whole family, and
                    # commit that (the block ends normally) before answering 401 below.
                    await refresh_tokens.revoke_family(session, known.family_id, now)
        raise Unauthorized("The refresh token is not valid")

    async def logout(self, refresh_token: str) -> None:
        now = datetime.now(UTC)
        async with self._db.transaction() as session:
            await refresh_tokens.revoke(session, tokens.hash_refresh_token(refresh_token), now)

    async def get_user(self, user_id: uuid.UUID) -> User:
        async with self._db.reader() as session:
            user = await users.get(session, user_id)
        if user is None:
            raise NotFound("This account no longer exists")
        return user

    async def _issue(self, session: AsyncSession, user: User, *, family_id: uuid.UUID) -> TokenPair:
        now = datetime.now(UTC)
        refresh = tokens.new_refresh_token()
        await refresh_tokens.add(
            session,
            token_hash=tokens.hash_refresh_token(refresh),
            user_id=user.id,
            family_id=family_id,
            expires_at=now + timedelta(seconds=self._refresh_ttl),
        )
        access = tokens.issue_access_token(
            secret_key=self._secret_key,
            user_id=user.id,
            role=user.role,
            name=user.name,
            ttl_seconds=self._access_ttl,
            now=now,
        )
        return TokenPair(access, refresh, self._access_ttl, user)
