"""Memory each SLURM job step used against what its job asked for, on the small SLURM test study
(tests/slurm/slurm_study.yaml) through the real profile on the one-node test cluster
(bash tests/slurm/start_cluster.sh first, as root). Every running job's steps are polled with
`sstat` once a second (the test cluster keeps no accounting database, so `sacct` has no MaxRSS);
a step's peak counts every process in it, the job's Snakemake included, as the memory limit does.
Prints one row per rule: request, peak, peak/request; the study fails where a rule asks too little.

    .venv/bin/python benchmarks/slurm_memory.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import SNAKEMAKE  # noqa: E402
from tests.slurm.conftest import STUDY_COMMAND, requests, rule_of, study_copy  # noqa: E402


def poll(peaks: dict[str, int], stop: threading.Event) -> None:
    """job id -> the largest MaxRSS (kB) of any of its steps, for every job seen running."""
    while not stop.is_set():
        running = subprocess.run(["squeue", "-h", "-r", "-t", "R", "-o", "%i"], capture_output=True, text=True).stdout.split()
        for job_id in running:
            out = subprocess.run(["sstat", "-n", "-P", "-a", "-j", job_id, "--format=JobID,MaxRSS"],
                                 capture_output=True, text=True).stdout
            for rss in re.findall(r"\|(\d+)K", out):
                peaks[job_id] = max(peaks.get(job_id, 0), int(rss))
        time.sleep(1)


def main() -> None:
    peaks: dict[str, int] = {}
    stop = threading.Event()
    poller = threading.Thread(target=poll, args=(peaks, stop), daemon=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = study_copy(Path(tmp), REPO)
        poller.start()
        proc = subprocess.run([*SNAKEMAKE, *STUDY_COMMAND], cwd=work, capture_output=True, text=True)
        stop.set()
        poller.join()
        if proc.returncode != 0:
            raise SystemExit(f"the SLURM study failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    rows: dict[str, tuple[int, int]] = {}  # rule -> (request MB, peak kB) of its job nearest its limit
    for job_id, rss in peaks.items():
        (record,) = requests(job_id)
        rule = rule_of(record.get("Comment", "?"))
        rule = "report (group job)" if rule.startswith("report_") else rule  # named after its components
        amount, unit = re.match(r"(\d+)([MG])", record["MinMemoryNode"]).groups()
        asked = int(amount) * (1024 if unit == "G" else 1)
        if rule not in rows or rss / asked > rows[rule][1] / rows[rule][0]:
            rows[rule] = (asked, rss)
    print(f"{'rule (or group)':32} {'asked MB':>9} {'peak MB':>8} {'peak/asked':>10}")
    for rule, (asked, rss) in sorted(rows.items(), key=lambda kv: -kv[1][1] / kv[1][0]):
        print(f"{rule[:32]:32} {asked:9d} {rss / 1024:8.0f} {rss / 1024 / asked:10.0%}")


if __name__ == "__main__":
    main()
