"""Queries on refresh-token families (rotation and reuse detection, contract §3)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import RefreshToken


async def add(
    session: AsyncSession,
    *,
    token_hash: str,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    expires_at: datetime,
) -> None:
    session.add(
        RefreshToken(
            token_hash=token_hash, user_id=user_id, family_id=family_id, expires_at=expires_at
        )
    )
    await session.flush()


async def rotate(session: AsyncSession, token_hash: str, now: datetime) -> RefreshToken | None:
    """Mark a live token as rotated and return it; None if it is not live.

    One conditional UPDATE, so of two concurrent refreshes with the same token exactly one
    wins, on PostgreSQL and on SQLite alike.
    """
    result = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.token_hash == token_hash,
            RefreshToken.rotated_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now,
        )
        .values(rotated_at=now)
        .returning(RefreshToken)
    )
    return result.scalar_one_or_none()


async def find(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    result = await session.execute(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash)
    )
    return result.scalar_one_or_none()


async def revoke(session: AsyncSession, token_hash: str, now: datetime) -> bool:
    """Revoke one token; True if it was live."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == token_hash, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(RefreshToken.id)
    )
    return result.first() is not None


async def revoke_family(session: AsyncSession, family_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
