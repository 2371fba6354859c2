"""Shared pytest fixtures. Area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    # the test machines have 2 cores shared by everything; keep torch from oversubscribing
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    yield


def copy_workflow(dest: Path) -> Path:
    """The workflow's tracked and new files (not results/ or .venv/) copied to ``dest``,
    so a test runs a study exactly as a user's clone would, without touching the repo."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout.split("\n")
    for rel in filter(None, listed):
        src = REPO / rel
        if rel.startswith(("results/", "tests/")):
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():  # the top-level profile links (`--profile slurm`) stay links
            (dest / rel).symlink_to(os.readlink(src))
        elif src.is_file():
            shutil.copy2(src, dest / rel)
    return dest


def snakemake(workdir: Path, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    """Run Snakemake in ``workdir``; on failure the assertion shows the end of its output."""
    proc = subprocess.run(
        [*SNAKEMAKE, *args], cwd=workdir, capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    return proc


@pytest.fixture(scope="session")
def finished_study(tmp_path_factory) -> Path:
    """The default demo study (config/config.yaml, unchanged) run end to end on one machine
    with the command users type (the run writes its own report). Returns the working directory."""
    work = copy_workflow(tmp_path_factory.mktemp("study"))
    snakemake(work, "--profile", "local", "--cores", "2")
    return work
