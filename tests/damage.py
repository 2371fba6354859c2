"""Damage a file as a full scratch disk does: cut short, or bytes overwritten in place."""

from __future__ import annotations

import os
from pathlib import Path

DAMAGE = ("truncated", "zeroed")


def damage(path: Path, how: str) -> None:
    """``truncated``: cut to half its size; ``zeroed``: 16 bytes in the middle set to zero, the size kept."""
    before = path.read_bytes()
    if how == "truncated":
        os.truncate(path, len(before) // 2)
    else:
        with open(path, "r+b") as fh:
            fh.seek(len(before) // 2)
            fh.write(bytes(min(16, len(before) - len(before) // 2)))
        assert path.stat().st_size == len(before)
    assert path.read_bytes() != before, f"{path}: the damage changed nothing"
