"""Many tiny jobs of one rule through the real profile as SLURM job arrays: every job runs
exactly once (its outputs, the marks it leaves each time it runs, the array task logs) in few
submissions. SAMDERM_STRESS_TASKS sets the count (CI: 45, more than one sbatch command line
holds; benchmarks/slurm_stress.sh: 1,000)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.conftest import snakemake
from tests.slurm.conftest import LOCAL_CLUSTER_OVERLAY, require_cluster

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

TASKS = int(os.environ.get("SAMDERM_STRESS_TASKS", "45"))


@pytest.fixture(scope="module")
def stress_study(tmp_path_factory, repo) -> tuple[Path, str, float]:
    require_cluster()
    work = tmp_path_factory.mktemp("array_stress")
    (work / "Snakefile").write_text((repo / "tests/slurm/array_stress/Snakefile").read_text())
    started = time.monotonic()
    proc = snakemake(work, "--profile", str(repo / "profiles/slurm"), *LOCAL_CLUSTER_OVERLAY,
                     "--slurm-keep-successful-logs", "--config", f"tasks={TASKS}", timeout=7200)
    wall = time.monotonic() - started
    return work, proc.stdout + proc.stderr, wall


def test_every_array_task_runs_its_job_exactly_once(stress_study):
    work, log, wall = stress_study
    done = sorted(int(p.stem) for p in (work / "done").glob("*.txt"))
    assert done == list(range(TASKS)), f"{TASKS - len(done)} jobs lost"
    marks = {p.stem: p.read_text().splitlines() for p in (work / "ran").glob("*.txt")}
    twice = {i: lines for i, lines in marks.items() if len(lines) != 1}
    assert len(marks) == TASKS and not twice, f"jobs run more than once: {twice}"
    task_logs = list((work / ".snakemake/slurm_logs/rule_train_heads").glob("*_*.log"))
    ran_in = {line for lines in marks.values() for line in lines}
    assert len(task_logs) == TASKS == len(ran_in), (len(task_logs), len(ran_in))
    assert ran_in == {p.stem for p in task_logs}, "a job ran in another array task than its log says"
    arrays = re.findall(r"Submitted array job with Snakemake IDs \S+ and SLURM job ID (\d+)", log)
    single = re.findall(r"has been submitted with SLURM jobid", log)
    assert not single and 1 <= len(arrays) <= TASKS / 10, (len(arrays), len(single))
    assert "Trying to restart" not in log, "a job failed and was retried"
    print(f"\narray stress: {TASKS} jobs in {len(arrays)} array submissions, {wall:.0f} s wall time")
