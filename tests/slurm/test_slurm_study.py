"""A small study through the real slurm profile on the one-node cluster of
tests/slurm/start_cluster.sh, measured: what each SLURM job asked for (`scontrol show job`;
the cluster keeps finished jobs an hour) against what ran in it (the job logs): the
extraction job asks for a GPU, a job that runs several components runs as many at once as
it has CPUs, each array task asks for one job, and few submissions carry many runs."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from tests.slurm.conftest import requests

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

PER_RUN_RULES = ("train_heads", "ensemble_heads", "ood_scores")


def submissions(work: Path, log: str) -> dict[str, str]:
    """SLURM job id -> what it ran (rule_<name> or group_<name>) for every sbatch the executor
    made: single jobs from the log path it names, arrays from their task logs (<id>_<task>.log)."""
    found = {job_id: kind for job_id, kind in
             re.findall(r"has been submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/([^/]+)/", log)}
    for job_id in re.findall(r"Submitted array job with Snakemake IDs \S+ and SLURM job ID (\d+)", log):
        kinds = {p.parent.name for p in (work / ".snakemake/slurm_logs").glob(f"*/**/{job_id}_*.log")}
        assert len(kinds) == 1, f"array job {job_id}: task logs in {kinds}"
        found[job_id] = kinds.pop()
    assert found, f"no SLURM submissions in the log:\n{log[-3000:]}"
    return found


def minutes(limit: str) -> float:
    """SLURM's [days-]hh:mm:ss as minutes."""
    days, _, clock = limit.rpartition("-")
    h, m, s = (int(v) for v in clock.split(":"))
    return (int(days or 0) * 24 + h) * 60 + m + s / 60


def executions(slurm_log: Path) -> list[tuple[datetime, datetime, str]]:
    """(start, end, rule) of each job that ran inside one SLURM job, from its log. Snakemake
    runs every job in a Snakemake of its own, which logs it as `localrule <name>:` ...
    `jobid: N` and ends it with `Finished jobid: N (Rule: <name>)`; the Snakemake processes
    around it (the group's, an array task's dispatcher) log the same job as `rule <name>:`,
    often with the same jobid, so a `Finished` line closes the latest open start of its
    jobid and rule."""
    stamp = r"\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]\n"
    events = re.finditer(stamp + r"(?:(local)?rule (\w+):\n(?:    .*\n)*?    jobid: (\d+)"
                                 r"|Finished jobid: (\d+) \(Rule: (\w+)\))", slurm_log.read_text())
    opened: dict[tuple[str, str], list[tuple[datetime, bool]]] = {}
    ran = []
    for event in events:
        when = datetime.strptime(" ".join(event[1].split()), "%a %b %d %H:%M:%S %Y")
        if event[3]:
            opened.setdefault((event[4], event[3]), []).append((when, event[2] is not None))
        elif opened.get((event[5], event[6])):
            started, executed = opened[(event[5], event[6])].pop()
            if executed:
                ran.append((started, when, event[6]))
    return ran


def most_at_once(intervals: list[tuple[datetime, datetime, str]]) -> int:
    """Largest number of intervals open at one time (an end at t closes before a start at t)."""
    events = sorted([(s, 1) for s, _, _ in intervals] + [(e, -1) for _, e, _ in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_the_study_finishes_on_slurm(slurm_study):
    work, _ = slurm_study
    assert (work / "results/tables/runs.tsv").is_file()
    assert list((work / "results/runs").rglob("metrics.json"))
    assert list((work / "results/ood").rglob("scores.tsv"))
    assert (work / "results/report.html").stat().st_size > 100_000  # the run ends by writing its report


def test_extraction_jobs_ask_slurm_for_a_gpu(slurm_study):
    work, log = slurm_study
    extraction = [job_id for job_id, kind in submissions(work, log).items() if kind == "rule_extract_features"]
    assert extraction, "no extract_features submission"
    for job_id in extraction:
        for record in requests(job_id):
            assert re.search(r"gres/gpu[:=]\d|gpu:1", record.get("TresPerNode", "") + record.get("TresPerJob", "")
                             + record.get("AllocTRES", "") + record.get("ReqTRES", "")), record


def test_each_training_ensemble_and_ood_submission_asks_for_one_job_per_task(slurm_study):
    """Training, ensembling and OOD scoring go as arrays (a lone ready job as a plain job):
    every task is one 1-CPU job whose memory and time limit are one job's, not a sum, and not
    far above what the task took."""
    work, log = slurm_study
    per_run = {job_id: kind for job_id, kind in submissions(work, log).items()
               if kind.removeprefix("rule_") in PER_RUN_RULES}
    arrays = 0
    for job_id, kind in per_run.items():
        for record in requests(job_id):
            assert record["NumCPUs"] == "1", record
            assert int(record["MinMemoryNode"].rstrip("M")) <= 2100, record  # 2000 MB + 10 MB per input MB
            task = f"{job_id}_{record['ArrayTaskId']}" if record.get("ArrayTaskId") else job_id
            arrays += bool(record.get("ArrayTaskId"))
            (task_log,) = (work / ".snakemake/slurm_logs").glob(f"{kind}/**/{task}.log")
            ran = executions(task_log)
            assert [rule for _, _, rule in ran] == [kind.removeprefix("rule_")], (task_log, ran)
            took = minutes(record["RunTime"])
            # the profile's floor is 3 min (SLURM counts minutes; a busy test node slows the tasks)
            assert minutes(record["TimeLimit"]) <= max(3.0, 2 * took), (task_log, record["TimeLimit"], took)
    assert arrays >= len(PER_RUN_RULES), f"{arrays} array tasks among {per_run}"


def test_a_multi_job_allocation_runs_as_many_jobs_at_once_as_it_has_cpus(slurm_study):
    work, log = slurm_study
    groups = {job_id: kind for job_id, kind in submissions(work, log).items() if kind.startswith("group_")}
    assert groups, "no group job (the report rules are grouped)"
    for job_id, kind in groups.items():
        (record,) = requests(job_id)
        (group_log,) = (work / ".snakemake/slurm_logs").glob(f"{kind}/**/{job_id}.log")
        ran = executions(group_log)
        assert len(ran) > 1, (group_log, ran)
        assert most_at_once(ran) == int(record["NumCPUs"]), (job_id, record["NumCPUs"], ran)


def test_few_submissions_carry_many_runs(slurm_study):
    work, log = slurm_study
    runs = sum(len(list((work / "results" / d).rglob(f))) for d, f in
               (("runs", "metrics.json"), ("ood", "scores.tsv")))
    kinds = list(submissions(work, log).values())
    per_run = [k for k in kinds if k.removeprefix("rule_") in PER_RUN_RULES]
    assert runs >= 20
    # one array per rule and batch of jobs that became ready together (at ISIC scale, hundreds)
    assert 3 <= len(per_run) <= runs / 2, f"{len(per_run)} SLURM submissions for {runs} training/ensemble/OOD jobs"
    print(f"\nSLURM submissions: {len(kinds)} in all, {len(per_run)} for {runs} training/ensemble/OOD jobs")
