"""The Snakefiles pass `snakemake --lint` and are formatted with snakefmt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import SNAKEMAKE, copy_workflow


def test_snakemake_lint_reports_nothing(tmp_path):
    work = copy_workflow(tmp_path)
    proc = subprocess.run([*SNAKEMAKE, "--lint"], cwd=work, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "Lints for" not in output, output[-4000:]


def test_snakefiles_are_snakefmt_formatted(repo):
    snakefiles = [repo / "Snakefile", *sorted((repo / "rules").glob("*.smk"))]
    snakefmt = Path(sys.executable).with_name("snakefmt")
    proc = subprocess.run(
        [str(snakefmt), "--check", "--diff", *map(str, snakefiles)],
        cwd=repo, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, f"run `snakefmt Snakefile rules/` to format:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}"


def test_parsing_the_workflow_imports_no_model_library(tmp_path):
    """Every job's Snakemake process parses the Snakefile again: importing torch there cost each of a
    study's thousands of jobs about 3 s (and `snakemake -n` of a 1,080-run matrix 9.8 s instead of 6.6 s)."""
    work = copy_workflow(tmp_path)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "snakemake", "--list-rules"], cwd=work,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "samderm.matrix" in imported  # the Snakefile was parsed (else this guards nothing)
    assert not imported & {"torch", "sklearn", "scipy", "timm", "sam2", "matplotlib"}, imported & {"torch", "sklearn"}
