"""Queries on accounts."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import User


class DuplicateEmail(Exception):
    """An account with that (lower-cased) email exists."""


async def get(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == email.lower()))
    return result.scalar_one_or_none()


async def any_exist(session: AsyncSession) -> bool:
    return (await session.execute(select(User.id).limit(1))).first() is not None


async def add(
    session: AsyncSession, *, email: str, name: str, role: str, password_hash: str
) -> User:
    """Insert an account; raise :class:`DuplicateEmail` if the email is taken.

    The unique index decides, not a prior SELECT, so two concurrent registrations of one
    email cannot both succeed. A savepoint keeps the caller's transaction usable.
    """
    user = User(email=email.lower(), name=name, role=role, password_hash=password_hash)
    try:
        async with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise DuplicateEmail(email) from None
    return user
