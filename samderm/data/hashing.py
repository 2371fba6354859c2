"""Seeds and orders from sha256: the same on every machine (Python's hash() is salted)."""

from __future__ import annotations

import hashlib
from typing import Any, Iterable


def stable_seed(*parts: Any) -> int:
    """A 64-bit seed from the parts joined by '|'."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def seeded_order(keys: Iterable[str], seed: int) -> list[str]:
    """A seeded shuffle that depends only on the keys, not on their input order."""
    return sorted(keys, key=lambda k: (stable_seed(seed, k), k))
