"""Path and query parameters the teacher routes share: an id in the path (a UUID, else 404,
contract §2) and the ``classroom_id`` query that scopes a list to one classroom."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar.params import PathParameter, QueryParameter

from server.http.errors import NotFound

PathId = Annotated[str, PathParameter(description="an id (UUID)")]
ClassroomQuery = Annotated[uuid.UUID, QueryParameter(description="the classroom")]


def path_id(value: str, what: str) -> uuid.UUID:
    """An id from the path; one that is not even a UUID names nothing (404, §2)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"No such {what}") from None
