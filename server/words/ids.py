"""The ``wordId`` of a classroom's own word (contract §8, in §6's form).

``c:`` and 12 random characters: opaque, so it stays right when the teacher edits the term
(a slug of the term would not), and it never starts like a deck's id (``es:``), which the
deck loader checks. 12 characters of a 32-letter alphabet are 60 bits: a collision is
astronomically rare, and the insert retries on one all the same.
"""

from __future__ import annotations

import secrets

PREFIX = "c:"
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # lower case, no 0/o or 1/l to misread
_LENGTH = 12


def new_word_id() -> str:
    return PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))
