"""Test-only switch for the SLURM fault tests (tests/slurm/test_slurm_faults.py): a job that
needs more memory than it asked for. Unset in every real study, where it does nothing."""

from __future__ import annotations

import logging
import os
from pathlib import Path

BALLAST_ENV = "SAMDERM_TEST_BALLAST"  # "<part of a job's log path>=<MB>"
_held: list[bytearray] = []  # kept for the job's life, as a real working set would be


def hold_memory_ballast(log_path: str | Path | None) -> int:
    """When SAMDERM_TEST_BALLAST names part of this job's log path, hold that many MB of
    touched memory (the cluster's memory limit then kills an attempt that asked for less);
    returns the MB held."""
    part, _, mb = os.environ.get(BALLAST_ENV, "").rpartition("=")
    if not part or not log_path or part not in str(log_path):
        return 0
    _held.append(bytearray(int(mb) * 2**20))  # zero-filled on creation: resident, not just reserved
    logging.getLogger("samderm").warning("%s: holding %s MB of test ballast (%s)", log_path, mb, BALLAST_ENV)
    return int(mb)
