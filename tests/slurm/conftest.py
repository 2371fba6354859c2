"""The one-node cluster of tests/slurm/start_cluster.sh, and the fault-free SLURM study that
the study tests measure and the fault tests compare against."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import SNAKEMAKE, copy_workflow

# the local cluster keeps no accounting (sacct), so the executor must poll squeue
LOCAL_CLUSTER_OVERLAY = ("--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5")
STUDY_CONFIG = "slurm_study.yaml"
# the command as users type it, on the small study
STUDY_COMMAND = ("--profile", "slurm", *LOCAL_CLUSTER_OVERLAY, "--configfile", STUDY_CONFIG, "--slurm-keep-successful-logs")


def cluster_is_up() -> str | None:
    """None when an idle node answers, else why not."""
    if not shutil.which("sinfo"):
        return "no SLURM client (sinfo) installed; run `make system-deps` as root"
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if proc.returncode != 0 or not re.search(r"idle|mix", proc.stdout):
        return f"no idle SLURM node ({proc.stderr.strip() or proc.stdout.strip() or 'none'}); start one with `bash tests/slurm/start_cluster.sh`"
    return None


def require_cluster() -> None:
    """Skip without a cluster, or fail where CI requires one (REQUIRE_SLURM=1)."""
    why = cluster_is_up()
    if why:
        if os.environ.get("REQUIRE_SLURM") == "1":
            pytest.fail(f"REQUIRE_SLURM=1 but {why}")
        pytest.skip(why)


def requests(job_id: str) -> list[dict[str, str]]:
    """`scontrol show job` of one job (one record per array task), as key=value dicts: what it asked
    for and how it ended (the test cluster keeps finished jobs an hour)."""
    out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, check=True).stdout
    return [dict(re.findall(r"(\S+?)=(\S*)", line)) for line in out.splitlines() if line.strip()]


def rule_of(comment: str) -> str:
    """The rule (or group) a SLURM job runs, from the comment the executor gives it
    (`rule_<name>` or `rule_<name>_wildcards_<values>`)."""
    return re.sub(r"_wildcards_.*", "", re.sub(r"^(?:rule|group)_", "", comment))


def failed_job_logs(controller_log: str, lines: int = 12) -> str:
    """The end of each SLURM log the controller names for a failed job: why SLURM ended it
    ("exceeded memory limit", a crash before the rule's own log has a line), which the
    controller's output alone does not say."""
    named = dict.fromkeys(re.findall(r"(\S+/slurm_logs/\S+?\.log) \(check log file", controller_log))
    tails = [f"--- {path} (last {lines} lines)\n" + "\n".join(Path(path).read_text().splitlines()[-lines:])
             for path in named if Path(path).is_file()]
    return "\n".join(tails)


def study_copy(dest: Path, repo: Path) -> Path:
    work = copy_workflow(dest)
    shutil.copy(repo / "tests/slurm" / STUDY_CONFIG, work / STUDY_CONFIG)
    return work


@pytest.fixture(scope="session")
def slurm_study(tmp_path_factory, repo) -> tuple[Path, str]:
    """The small study run once without faults through the real profile: (workdir, log)."""
    require_cluster()
    work = study_copy(tmp_path_factory.mktemp("slurm_study"), repo)
    started = time.monotonic()
    proc = subprocess.run([*SNAKEMAKE, *STUDY_COMMAND], cwd=work, capture_output=True, text=True, timeout=2400)
    log = proc.stdout + proc.stderr
    (work / "snakemake.log").write_text(log)  # kept beside the study for a look afterwards
    assert proc.returncode == 0, f"the SLURM study failed:\n{log[-6000:]}\n{failed_job_logs(log)}"
    print(f"\nSLURM study: {time.monotonic() - started:.0f} s wall time in {work}")
    return work, log
