"""Faults injected while the small study runs on the one-node cluster, the way a shared
cluster deals them out: a cancelled extraction job, a cancelled array task of train_heads, a
job that needs more memory than it asked for, the node going DOWN and back, and the Snakemake
controller killed (SIGKILL, as when a login session dies) and started again. The study must
finish with the same numbers as the fault-free run (tests/slurm/conftest.py's slurm_study):
every file of every run equal byte for byte."""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from samderm.fault_injection import BALLAST_ENV
from tests.conftest import SNAKEMAKE
from tests.slurm.conftest import STUDY_COMMAND, failed_job_logs, require_cluster, requests, rule_of, study_copy

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# the tables the fault study is run for (no report: its per-run outputs are what faults hit)
TARGETS = ("results/tables/runs.tsv", "results/tables/ood_runs.tsv")
# one training job that needs ~3 GB (2.1 GB of ballast on a 0.94 GB job step, benchmarks/slurm_memory.py):
# more than the 2 GB its first attempt asks for, less than
# the 4 GB of its retry (profiles/slurm: mem_mb grows with `attempt`)
BALLAST_RUN = "exp1/wce/parallel/"
BALLAST_MB = 2100
STUDY_TIMEOUT_S = 1500
TMP_SUFFIX = ".tmp"  # samderm.io.atomic_path's temporary files


def squeue() -> list[tuple[str, str, str]]:
    """(job id, state, rule) of every job in the queue; array tasks one by one (`<id>_<task>`)."""
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T|%k"], capture_output=True, text=True, check=True).stdout
    jobs = []
    for line in filter(None, out.splitlines()):
        job_id, state, comment = line.split("|", 2)
        jobs.append((job_id, state, rule_of(comment)))
    return jobs


def running(rule: str, array_task: bool | None = None) -> list[str]:
    return [job_id for job_id, state, r in squeue()
            if r == rule and state == "RUNNING" and (array_task is None or ("_" in job_id) == array_task)]


def training_task(work: Path, avoid: str) -> list[str]:
    """A running train_heads array task that has started training a run other than ``avoid``
    (its SLURM log names the run), so that two faults never hit one job."""
    for job_id in running("train_heads", True):
        log = work / ".snakemake/slurm_logs/rule_train_heads" / f"{job_id}.log"
        trained = re.search(r"samderm\.train\.run: training (\S+)", log.read_text()) if log.is_file() else None
        if trained and not trained[1].startswith(avoid):
            return [job_id]
    return []


def show_job(job_id: str) -> dict[str, str]:
    (record,) = requests(job_id)  # one job or one array task
    return record


def outputs(work: Path) -> set[str]:
    """Every file the study wrote (logs aside)."""
    return {str(p.relative_to(work)) for p in (work / "results").rglob("*")
            if p.is_file() and "logs" not in p.relative_to(work / "results").parts[:1]}


def incomplete_outputs(work: Path) -> set[str]:
    """The outputs Snakemake has marked incomplete (jobs started, not yet seen finished): one
    record per output, its path in urlsafe base64, split into `@`-prefixed parts when long."""
    marks = work / ".snakemake/incomplete"
    records = [p.relative_to(marks).parts for p in marks.rglob("*") if p.is_file() and p.name != "migration_underway"]
    return {base64.urlsafe_b64decode("".join(part.lstrip("@") for part in parts)).decode() for parts in records}


@dataclass
class Controller:
    """`snakemake --profile slurm ...` in a session of its own, as from a login shell."""

    work: Path
    name: str
    proc: subprocess.Popen | None = None
    started: float = 0.0

    @property
    def log(self) -> Path:
        return self.work / f"{self.name}.log"

    def start(self) -> "Controller":
        env = {**os.environ, BALLAST_ENV: f"results/logs/train_heads/{BALLAST_RUN}={BALLAST_MB}"}
        self.started = time.monotonic()
        self.proc = subprocess.Popen([*SNAKEMAKE, *STUDY_COMMAND, *TARGETS], cwd=self.work, env=env,
                                     stdout=open(self.log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def text(self) -> str:
        return self.log.read_text()

    def finished_jobs(self) -> int:
        return len(re.findall(r"^Finished jobid: \d+", self.text(), re.M))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self) -> float:
        rc = self.proc.wait(timeout=STUDY_TIMEOUT_S)
        assert rc == 0, f"{self.name}: snakemake exited {rc}:\n{self.text()[-6000:]}\n{failed_job_logs(self.text())}"
        return time.monotonic() - self.started

    def sigkill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)  # the whole session, as when the login dies
        self.proc.wait()


@dataclass
class FaultStudy:
    work: Path
    seen: dict = field(default_factory=dict)  # what each fault hit and when


def wait_for(what: str, controller: Controller, probe, timeout: float = 600):
    """Poll until probe() returns something truthy while the controller runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        assert controller.alive(), f"the study ended before {what}:\n{controller.text()[-4000:]}\n{failed_job_logs(controller.text())}"
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def scancel(job_id: str) -> None:
    subprocess.run(["scancel", job_id], check=True)


def set_node(state: str) -> None:
    subprocess.run(["scontrol", "update", f"nodename={socket.gethostname().split('.')[0]}", f"state={state}",
                    *(["reason=fault test"] if state == "down" else [])], check=True)


@pytest.fixture(scope="module")
def fault_study(tmp_path_factory, repo) -> FaultStudy:
    require_cluster()
    study = FaultStudy(study_copy(tmp_path_factory.mktemp("slurm_faults"), repo))
    controllers = [Controller(study.work, "controller1"), Controller(study.work, "controller2")]
    try:
        inject_faults(study, *controllers)
    finally:  # a failed test leaves no job, controller or DOWN node to the tests after it
        for controller in controllers:
            if controller.proc and controller.alive():
                controller.sigkill()
            for run_id in re.findall(r"^SLURM run ID: (\S+)", controller.text() if controller.proc else "", re.M):
                subprocess.run(["scancel", "--name", run_id], check=False)
        if "down" in subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True).stdout:
            set_node("resume")
    return study


def inject_faults(study: FaultStudy, first: Controller, second: Controller) -> None:
    seen = study.seen
    first.start()

    # 1. the running extraction job is cancelled (as a pre-emption or an admin would)
    (seen["extraction"],) = wait_for("an extraction job", first, lambda: running("extract_features")[:1])
    scancel(seen["extraction"])

    # 2. a running array task of train_heads is cancelled; 3. the ballast job runs out of memory meanwhile
    (seen["train_task"],) = wait_for("a train_heads array task", first, lambda: training_task(study.work, BALLAST_RUN))
    scancel(seen["train_task"])

    # 4. the node goes DOWN while OOD scoring or ensembling runs, and comes back
    seen["node_down_jobs"] = wait_for("an OOD or ensemble job", first,
                                      lambda: running("ood_scores") + running("ensemble_heads"))
    set_node("down")
    seen["node_down_epoch"] = time.time()
    time.sleep(5)
    set_node("resume")

    # 5. the controller dies mid-run, once the jobs requeued by the DOWN node have ended (a requeued
    # job that started again after the kill would rewrite finished outputs, and the second run would
    # delete the inputs of one still running: two faults, not this one) and one more job has finished
    # with another running
    wait_for("the jobs requeued by the DOWN node to end", first,
             lambda: not set(seen["node_down_jobs"]) & {job_id for job_id, _, _ in squeue()})
    finished = first.finished_jobs()
    wait_for("a job finished after the node came back, with another running", first,
             lambda: first.finished_jobs() > finished and any(s == "RUNNING" for _, s, _ in squeue()))
    seen["killed_at"] = time.monotonic() - first.started
    seen["killed_epoch"] = time.time()
    first.sigkill()
    # read after the kill: a live controller may still mark a job finished between the two reads
    seen["incomplete_at_kill"] = incomplete_outputs(study.work)
    seen["outputs_at_kill"] = outputs(study.work)
    seen["finished_before_kill"] = first.finished_jobs()

    # the same command again (after the unlock a killed controller needs), the old jobs still queued
    subprocess.run([*SNAKEMAKE, *STUDY_COMMAND, "--unlock"], cwd=study.work, check=True, capture_output=True)
    second.start()
    seen["recovery_s"] = second.wait()
    print(f"\nfault study: {seen['killed_at']:.0f} s until the controller was killed, "
          f"{seen['recovery_s']:.0f} s for the second run, in {study.work}")


def submissions(controller_log: str) -> dict[str, list[str]]:
    """Snakemake job id -> the SLURM job ids of its attempts, in order, from a controller's log: single
    jobs (`Job N has been submitted with SLURM jobid X`) and array tasks (`<id>_<task>`, the tasks
    numbered in the order of the array's Snakemake ids)."""
    found: dict[str, list[str]] = {}
    for job, single, jobs, array, first_task in re.findall(
            r"Job (\d+) has been submitted with SLURM jobid (\d+)|Submitted array job with Snakemake IDs ([\d,]+) "
            r"and SLURM job ID (\d+)\. The individual task IDs are (\d+)-", controller_log):
        if job:
            found.setdefault(job, []).append(single)
        for offset, member in enumerate(jobs.split(",") if jobs else []):
            found.setdefault(member, []).append(f"{array}_{int(first_task) + offset}")
    return found


def job_logs(controller_log: str) -> dict[str, str]:
    """Snakemake job id -> the job's own log (results/logs/...), which names it in every controller."""
    return dict((job, log) for log, job in re.findall(r"^ *rule \w+:\n(?: +.*\n)*? +log: ([^,\s]+).*\n(?: +.*\n)*? +jobid: (\d+)$",
                                                       controller_log, re.M))


def attempts(work: Path, job_log: str, controllers: tuple[str, ...] = ("controller1", "controller2")) -> list[str]:
    """SLURM job ids (array tasks as `<id>_<task>`) of every attempt, in order, of the job whose own log
    starts with ``job_log``, from both controllers' logs. (The executor writes an array task's SLURM log
    to .snakemake/slurm_logs/<rule>/<id>_<task>.log, not to the folder it announces, plugin 2.8.0.)"""
    found = []
    for name in controllers:
        text = (work / f"{name}.log").read_text()
        tries = submissions(text)
        for job, log in job_logs(text).items():
            found += [job_id for job_id in tries.get(job, []) if log.startswith(job_log) and job_id not in found]
    return found


def jobs_finished_since(work: Path, since_epoch: float) -> list[set[str]]:
    """The outputs of each SLURM job whose own Snakemake (`localrule`) finished after ``since_epoch``, from
    the SLURM logs. A job the killed controller left running goes on; when it ends, its Snakemake
    clears its outputs' incomplete marks, and the same command started after that keeps them."""
    stamp = r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]\nFinished jobid"
    finished = []
    for log in (work / ".snakemake/slurm_logs").rglob("*.log"):
        text = log.read_text()
        ends = [datetime.strptime(" ".join(s.split()), "%a %b %d %H:%M:%S %Y").timestamp() for s in re.findall(stamp, text, re.M)]
        if ends and max(ends) >= since_epoch - 1:  # the logs' times are whole seconds
            lines = re.findall(r"^ *localrule \w+:\n(?: +.*\n)*? +output: (.*)$", text, re.M)
            finished.append({output for line in lines for output in line.split(", ")})
    return finished


def ended(job: dict[str, str]) -> float:
    return datetime.fromisoformat(job["EndTime"]).timestamp()


def recovered_after_cancel(study: FaultStudy, rule: str, cancelled: str) -> tuple[list[str], float]:
    """The attempts of the job whose SLURM job was cancelled, checked: the executor saw the
    cancellation, resubmitted, and the last attempt completed; and the seconds from the
    cancellation to its end."""
    first = show_job(cancelled)
    assert first["JobState"] == "CANCELLED"
    log = (study.work / "controller1.log").read_text()
    assert f"SLURM-job '{cancelled}' failed, SLURM status is: 'CANCELLED'" in log
    (job,) = [job for job, tries in submissions(log).items() if cancelled in tries]
    tries = attempts(study.work, job_logs(log)[job])
    last = show_job(tries[-1])
    assert tries[0] == cancelled and len(tries) >= 2 and last["JobState"] == "COMPLETED", tries
    return tries, ended(last) - ended(first)


def test_a_cancelled_extraction_job_is_resubmitted(fault_study):
    tries, took = recovered_after_cancel(fault_study, "extract_features", fault_study.seen["extraction"])
    print(f"\ncancelled extraction job: {len(tries) - 1} job redone, done {took:.0f} s after the cancellation")


def test_a_cancelled_array_task_is_resubmitted(fault_study):
    tries, took = recovered_after_cancel(fault_study, "train_heads", fault_study.seen["train_task"])
    print(f"\ncancelled array task: {len(tries) - 1} job redone, done {took:.0f} s after the cancellation")


def test_a_job_out_of_memory_is_retried_with_more_memory(fault_study):
    """The ballast job's first attempt passes its memory request and SLURM kills it; each retry asks
    for more memory than the attempt before (read back with `scontrol show job`; a controller started
    again counts from its first attempt), and the last completes."""
    job_log = f"results/logs/train_heads/{BALLAST_RUN}"
    tries = attempts(fault_study.work, job_log)
    jobs = [show_job(job_id) for job_id in tries]
    memory = [int(job["MinMemoryNode"].rstrip("M")) for job in jobs]
    assert len(jobs) >= 2 and jobs[0]["JobState"] == "FAILED", list(zip(tries, jobs))
    assert jobs[-1]["JobState"] == "COMPLETED" and memory[-1] >= 2 * memory[0] - 2, list(zip(tries, memory))
    for controller in ("controller1", "controller2"):
        asked = [memory[tries.index(job_id)] for job_id in attempts(fault_study.work, job_log, (controller,))]
        assert all(later > earlier for earlier, later in zip(asked, asked[1:])), (controller, asked)
    first_log = next((fault_study.work / ".snakemake/slurm_logs").rglob(f"{tries[0]}.log")).read_text()
    assert "exceeded memory limit" in first_log, first_log[-2000:]
    print(f"\nout of memory: {memory[0]} MB, then {memory[1]} MB; attempts asked for {memory} MB; "
          f"done {ended(jobs[-1]) - ended(jobs[0]):.0f} s after the first kill")


def test_jobs_on_a_node_set_down_are_requeued_and_complete(fault_study):
    hit = fault_study.seen["node_down_jobs"]
    assert hit
    jobs = [show_job(job_id) for job_id in hit]
    for job_id, job in zip(hit, jobs):
        assert int(job["Restarts"]) >= 1 and job["JobState"] == "COMPLETED", (job_id, job)
    print(f"\nnode DOWN for 5 s: {len(hit)} running jobs requeued, all done "
          f"{max(map(ended, jobs)) - fault_study.seen['node_down_epoch']:.0f} s after it went down")


def jobs_run(controller_log: Path) -> list[set[str]]:
    """The outputs of each job a controller ran, from its log (`rule <name>:` ... `output: a, b`;
    a group job's components indented)."""
    return [set(block.split(", ")) for block in re.findall(r"^ *rule \w+:\n(?: +.*\n)*? +output: (.*)$",
                                                             controller_log.read_text(), re.M)]


def test_a_killed_controller_redoes_only_the_jobs_it_had_not_seen_finish(fault_study):
    """The same command after the kill runs the jobs that were running (their outputs marked
    incomplete; unless the SLURM job ended by itself first) and those never started, and no job the
    killed controller saw finish. (Outputs' times are no witness: every array task's outer Snakemake
    touches the first task's outputs when it ends, plugin 2.8.0.)"""
    seen, work = fault_study.seen, fault_study.work
    incomplete = {rel for rel in seen["incomplete_at_kill"] if rel.startswith("results/")}
    finished = seen["outputs_at_kill"] - incomplete
    rerun = jobs_run(work / "controller2.log")
    redone = set().union(*rerun)
    assert incomplete, "the controller was killed with no job running"
    assert finished and not finished & redone, f"finished outputs written again: {sorted(finished & redone)[:10]}"
    ended_alone = [job for job in jobs_finished_since(work, seen["killed_epoch"]) if job & incomplete and not job & redone]
    left_over = incomplete - redone - set().union(*ended_alone)
    assert not left_over, f"incomplete outputs neither redone nor finished by their own SLURM job: {sorted(left_over)}"
    left = [rel for rel in outputs(work) if rel.endswith(TMP_SUFFIX)]
    assert not left, f"half-written files left behind: {left}"
    running = sum(bool(job & incomplete) for job in rerun)
    print(f"\ncontroller killed: {seen['finished_before_kill']} finished jobs kept, {len(ended_alone)} running jobs ended "
          f"by themselves and kept, {running} that were running and {len(rerun) - running} not yet started run by the "
          f"same command again, in {seen['recovery_s']:.0f} s")


def test_the_study_equals_the_fault_free_run(fault_study, slurm_study):
    reference, _ = slurm_study
    faulty = outputs(fault_study.work)
    assert len(faulty) > 100 and all(t in faulty for t in TARGETS)
    missing = [rel for rel in faulty if not (reference / rel).is_file()]
    differ = [rel for rel in faulty if rel not in missing and (fault_study.work / rel).read_bytes() != (reference / rel).read_bytes()]
    assert not missing and not differ, (missing, differ)
