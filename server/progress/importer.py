"""``tandem import-progress``: the import endpoint's work, for a file on the command line.

It merges exactly as ``POST /api/v1/progress/import`` does and announces the changes the
same way: through Redis to every serving process when Redis is configured; otherwise the
serving process's periodic sweep finds the new events in the store within seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime

from server.auth.tokens import Principal
from server.progress import importing
from server.progress.schemas import ImportReport, Rejected
from server.progress.service import ProgressService
from server.realtime_wiring import offline_services
from server.settings import Settings
from storage.repositories import users


class UnknownUser(LookupError):
    pass


async def import_file(
    settings: Settings, email: str, body: bytes, content_type: str
) -> ImportReport:
    parsed = importing.parse(body, content_type)
    async with offline_services(settings) as offline:
        database = offline.database
        async with database.reader() as session:
            user = await users.get_by_email(session, email)
        if user is None:
            raise UnknownUser(email)
        principal = Principal(user.id, user.role, user.name, datetime.now(UTC))
        service = ProgressService(database, offline.publish, offline.board_stamps)
        imported, merged, unchanged = await service.merge(principal, parsed.entries)
    return ImportReport(
        imported=imported,
        merged=merged,
        unchanged=unchanged,
        rejected=[Rejected(word_id=w, reason=r) for w, r in parsed.rejected],
    )
