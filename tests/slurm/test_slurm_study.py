"""A small study through the real slurm profile on the one-node cluster of
tests/slurm/start_cluster.sh: every job is a SLURM job, the extraction job asks for a GPU,
and grouping packs the many small training jobs into few SLURM jobs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import copy_workflow, snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# the local cluster keeps no accounting (sacct), so the executor must poll squeue
LOCAL_CLUSTER_OVERLAY = ("--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5")
GROUPED_RULES = ("train_heads", "ensemble_heads", "ood_scores")


def cluster_is_up() -> str | None:
    """None when an idle node answers, else why not."""
    if not shutil.which("sinfo"):
        return "no SLURM client (sinfo) installed; run `make system-deps` as root"
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if proc.returncode != 0 or not re.search(r"idle|mix", proc.stdout):
        return f"no idle SLURM node ({proc.stderr.strip() or proc.stdout.strip() or 'none'}); start one with `bash tests/slurm/start_cluster.sh`"
    return None


@pytest.fixture(scope="module")
def slurm_study(tmp_path_factory, repo):
    why = cluster_is_up()
    if why:
        if os.environ.get("REQUIRE_SLURM") == "1":
            pytest.fail(f"REQUIRE_SLURM=1 but {why}")
        pytest.skip(why)
    work = copy_workflow(tmp_path_factory.mktemp("slurm_study"))
    shutil.copy(repo / "tests/slurm/slurm_study.yaml", work / "slurm_study.yaml")
    proc = snakemake(
        work, "--profile", "profiles/slurm", *LOCAL_CLUSTER_OVERLAY,
        "--configfile", "slurm_study.yaml", "--slurm-keep-successful-logs", timeout=2400,
    )
    return work, proc.stdout + proc.stderr


def submissions(log: str) -> list[tuple[str, str]]:
    """(rule_<name> or group_<name>, SLURM job id) of every sbatch the executor made,
    read from the SLURM log path the executor names for each submission."""
    found = re.findall(r"has been submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/([^/]+)/", log)
    assert found, f"no SLURM submissions in the log:\n{log[-3000:]}"
    return [(kind, job_id) for job_id, kind in found]


def test_the_study_finishes_on_slurm(slurm_study):
    work, _ = slurm_study
    assert (work / "results/tables/runs.tsv").is_file()
    assert list((work / "results/runs").rglob("metrics.json"))
    assert list((work / "results/ood").rglob("scores.tsv"))


def test_extraction_jobs_ask_slurm_for_a_gpu(slurm_study):
    work, log = slurm_study
    slurm_logs = work / ".snakemake/slurm_logs"
    extract_logs = list(slurm_logs.glob("rule_extract_features/**/*.log"))
    assert extract_logs, f"no SLURM log of extract_features under {slurm_logs}"
    job_ids = {p.stem for p in extract_logs}
    for job_id in job_ids:
        info = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout
        assert re.search(r"gres/gpu[:=]\d|gpu:1|TresPerJob=gres/gpu:1|TresPerNode=gres/gpu:1", info), info


def test_grouping_packs_training_into_few_slurm_jobs(slurm_study):
    work, log = slurm_study
    per_run_jobs = sum(len(list((work / "results" / d).rglob(f))) for d, f in
                       (("runs", "metrics.json"), ("ood", "scores.tsv")))
    kinds = [kind for kind, _ in submissions(log)]
    assert not [k for k in kinds if k.removeprefix("rule_") in GROUPED_RULES], (
        f"training/ensemble/OOD jobs were submitted one by one: {kinds}")
    group_submissions = [k for k in kinds if k.startswith("group_heads")]
    assert per_run_jobs >= 12
    assert 1 <= len(group_submissions) <= per_run_jobs / 4, (
        f"{len(group_submissions)} SLURM jobs for {per_run_jobs} training/ensemble/OOD jobs")
