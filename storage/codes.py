"""Join codes (contract §4, §8): the form of the codes stored on classrooms and students.

Here rather than in the classroom service so that the migration that gives existing
students their codes makes them by the same rule.
"""

from __future__ import annotations

import secrets

# Codes people type from a board or a slip of paper: no 0/O or 1/I/L to confuse.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(code: str) -> str:
    """What a person typed, as stored: upper case, without spaces or dashes."""
    return code.strip().upper().replace("-", "").replace(" ", "")
