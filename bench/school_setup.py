"""The school day's school (bench/school_day.py): accounts, classrooms, lessons and cards.

Accounts are inserted in the database with one shared password hash and get tokens signed
with the run's key (Argon2 costs 150 ms a hash on the benchmark machine); everything else
goes over HTTP as a teacher and a learner would do it. Each classroom yields the specs of
its seats for the client workers.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench import common
from bench.clients import Command
from server.auth.passwords import hash_password
from server.auth.tokens import issue_access_token
from storage.database import Database
from storage.repositories import users

TOKEN_TTL = 6 * 3600
TEACHERS_PER_CLASS = 2
SETUP_CONCURRENCY = 6  # classrooms set up at once


# -- set-up: the school ----------------------------------------------------------------------


@dataclass
class School:
    """Accounts and classrooms made so far; each classroom's seats as worker specs."""

    database_url: str
    base_url: str
    classrooms: int = 0
    words: list[str] = field(default_factory=list)
    password_hash: str = ""

    async def accounts(self, role: str, count: int) -> list[tuple[str, uuid.UUID]]:
        """``count`` accounts made in the database; their tokens (see the module docstring)."""
        if not self.password_hash:
            self.password_hash = await asyncio.to_thread(hash_password, secrets.token_hex(8))
        database = Database(self.database_url, pool_size=1, max_overflow=0)
        try:
            async with database.transaction() as session:
                made = [
                    await users.add(
                        session,
                        email=f"{role}-{secrets.token_hex(6)}@bench.example",
                        name=f"{role.title()} {n}",
                        role=role,
                        password_hash=self.password_hash,
                    )
                    for n in range(count)
                ]
                await session.flush()
                ids = [(user.id, user.name) for user in made]
        finally:
            await database.dispose()
        return [
            (
                issue_access_token(
                    secret_key=common.SECRET_KEY,
                    user_id=user_id,
                    role=role,
                    name=name,
                    ttl_seconds=TOKEN_TTL,
                ),
                user_id,
            )
            for user_id, name in ids
        ]

    async def add(
        self, args: argparse.Namespace, rooms: int
    ) -> tuple[list[Command], list[Command]]:
        """``rooms`` more classrooms: (learner specs, teacher specs)."""
        learners = await self.accounts("learner", rooms * args.class_size)
        teachers = await self.accounts("teacher", rooms * TEACHERS_PER_CLASS)
        gate = asyncio.Semaphore(SETUP_CONCURRENCY)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=120) as http:

            async def room(n: int) -> tuple[list[Command], list[Command]]:
                async with gate:
                    return await self._room(
                        http,
                        args,
                        [t for t, _ in learners[n * args.class_size : (n + 1) * args.class_size]],
                        [t for t, _ in teachers[n * 2 : n * 2 + 2]],
                    )

            made = await asyncio.gather(*(room(n) for n in range(rooms)))
        self.classrooms += rooms
        return [s for m in made for s in m[0]], [s for m in made for s in m[1]]

    async def _room(
        self,
        http: httpx.AsyncClient,
        args: argparse.Namespace,
        learners: Sequence[str],
        teachers: Sequence[str],
    ) -> tuple[list[Command], list[Command]]:
        owner, co_teacher = teachers
        number = self.classrooms + random.randrange(1 << 30)
        room = await _data(
            http.post(
                "/api/teacher/classrooms", json={"name": f"Room {number}"}, headers=_auth(owner)
            )
        )
        await _data(
            http.post(
                "/api/teacher/classrooms/join",
                json={"join_code": room["teacher_join_code"]},
                headers=_auth(co_teacher),
            )
        )
        lessons = []
        words: list[str] = []
        for index in range(args.lessons):
            chosen = self.words[index * args.lesson_words : (index + 1) * args.lesson_words]
            words += chosen
            body = {
                "classroom_id": room["id"],
                "title": f"Lesson {index}",
                "category": "Spanish",
                "word_ids": chosen,
            }
            lessons.append(
                await _data(http.post("/api/teacher/lessons", json=body, headers=_auth(owner)))
            )
        specs: list[Command] = []
        for seat, token in enumerate(learners):
            joined = await _data(
                http.post(
                    "/api/v1/classrooms/join",
                    json={"join_code": room["student_join_code"]},
                    headers=_auth(token),
                )
            )
            for lesson in lessons:
                body = {"lesson_id": lesson["id"], "student_id": joined["student"]["id"]}
                await _data(
                    http.post("/api/teacher/progress-board/cards", json=body, headers=_auth(owner))
                )
            specs.append(
                {"token": token, "server": seat % 2, "channel": "progress", "words": words}
            )
        teacher_specs: list[Command] = [
            {
                "token": token,
                "server": seat % 2,
                "channel": f"board:{room['id']}",
                "classroom": room["id"],
            }
            for seat, token in enumerate(teachers)
        ]
        return specs, teacher_specs


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _data(request: Any) -> Any:
    response = await request
    if response.status_code >= 300:
        raise RuntimeError(f"set-up: {response.status_code} {response.text[:300]}")
    return response.json()["data"]
