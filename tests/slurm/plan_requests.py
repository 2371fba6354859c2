"""What a study would ask SLURM for, from a dry run: SLURM submissions and reserved
CPU-hours per kind of job, under a profile's grouping and array settings.

    .venv/bin/python tests/slurm/plan_requests.py [--profile profiles/slurm] [--input-mb 2 train_heads=80] [-- snakemake args]

A resource that depends on input sizes (unknown before the inputs exist) is evaluated with
``input.size_mb`` from --input-mb (a default, then rule=MB). A group job's request follows Snakemake's layering: the jobs
of one dependency level side by side up to the profile's `cores` (and `resources`) limits,
layers one after another; an array rule counts one submission per rule (the fewest: the
real count depends on how many of its jobs become ready together)."""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

RESOURCE = re.compile(r"(\w+)=([^,]+)")


@dataclass
class Job:
    rule: str
    group: int | None
    inputs: set[str] = field(default_factory=set)
    outputs: set[str] = field(default_factory=set)
    resources: dict[str, str] = field(default_factory=dict)
    threads: int = 1


def dry_run(profile: str, extra: list[str]) -> str:
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--profile", profile, *extra],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-3000:] + proc.stderr[-3000:])
    return proc.stdout + proc.stderr


def parse(text: str) -> list[Job]:
    jobs, group = [], None
    for block in re.split(r"\n(?=\[\w{3} \w{3} |\s{4}\[\w{3} \w{3} )", text):
        if "Group job" in block.splitlines()[0]:
            group = (group or 0) + 1
        rule = re.search(r"^\s*(?:local)?rule (\w+):", block, re.M)
        if not rule:
            continue
        indented = block.startswith("    [")
        job = Job(rule.group(1), group if indented else None)
        for key, target in (("input", job.inputs), ("output", job.outputs)):
            line = re.search(rf"^\s*{key}: (.*)$", block, re.M)
            if line:
                target.update(f.strip() for f in line.group(1).split(","))
        line = re.search(r"^\s*resources: (.*)$", block, re.M)
        if line:
            job.resources = dict(RESOURCE.findall(line.group(1)))
        threads = re.search(r"^\s*threads: (\d+)", block, re.M)
        job.threads = int(threads.group(1)) if threads else 1
        jobs.append(job)
    return jobs


def request(job: Job, profile: dict, input_mb: dict[str, float]) -> tuple[int, float, float]:
    """(CPUs, memory MB, runtime minutes) of one job; <TBD> values from the profile's expression."""
    overrides = profile.get("set-resources", {}).get(job.rule, {})
    defaults = profile.get("default-resources", {})

    def value(name: str) -> float:
        raw = job.resources.get(name, "0").strip()
        if raw != "<TBD>":
            return float(raw)
        expr = str(overrides.get(name, defaults.get(name)))
        return float(eval(expr, {"input": type("Input", (), {"size_mb": input_mb.get(job.rule, input_mb[""])})(), "attempt": 1, "max": max, "int": int}))

    cpus = int(value("cpus_per_task")) if "cpus_per_task" in job.resources else job.threads
    return max(cpus, 1), value("mem_mb"), value("runtime")


def group_request(jobs: list[Job], profile: dict, input_mb: dict[str, float]) -> tuple[int, float, float]:
    """Snakemake's layering: each dependency level packed side by side up to `cores` CPUs
    (one job per layer when every job holds the whole of a global resource such as group_slot)."""
    produced = {f: j for j in jobs for f in j.outputs}
    level: dict[int, int] = {}

    def depth(i: int) -> int:
        if i not in level:
            parents = {id(produced[f]) for f in jobs[i].inputs if f in produced}
            level[i] = 1 + max((depth(next(k for k, j in enumerate(jobs) if id(j) == p)) for p in parents), default=-1)
        return level[i]

    limits = {"cpus": profile.get("cores", 1)}
    serial = any(r.split("=")[0] in jobs[0].resources for r in profile.get("resources", []))
    cpus = mem = runtime = 0.0
    by_level = defaultdict(list)
    for i in range(len(jobs)):
        by_level[depth(i)].append(request(jobs[i], profile, input_mb))
    for reqs in by_level.values():
        reqs.sort(key=lambda r: -r[2])
        per_layer = 1 if serial else max(1, int(limits["cpus"] // max(r[0] for r in reqs)))
        for start in range(0, len(reqs), per_layer):
            layer = reqs[start:start + per_layer]
            cpus = max(cpus, sum(r[0] for r in layer))
            mem = max(mem, sum(r[1] for r in layer))
            runtime += max(r[2] for r in layer)
    return int(cpus), mem, runtime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="profiles/slurm")
    parser.add_argument("--input-mb", nargs="+", default=["2"], help="input.size_mb of a size-dependent request: MB, rule=MB")
    parser.add_argument("snakemake_args", nargs="*")
    args = parser.parse_args()
    input_mb = {"": 2.0}
    for item in args.input_mb:
        rule, _, mb = item.rpartition("=")
        input_mb[rule] = float(mb)
    profile = yaml.safe_load((Path(args.profile) / "config.yaml").read_text())
    arrays = {r.strip() for r in str(profile.get("slurm-array-jobs", "")).split(",") if r.strip()}
    jobs = [j for j in parse(dry_run(args.profile, args.snakemake_args)) if j.rule != "all"]
    rows = defaultdict(lambda: [0, 0, 0.0, 0, ""])  # kind -> jobs, submissions, CPU-hours, max CPUs, request
    groups = defaultdict(list)
    for job in jobs:
        if job.group is not None:
            groups[job.group].append(job)
            continue
        cpus, mem, runtime = request(job, profile, input_mb)
        row = rows[job.rule]
        row[0] += 1
        row[1] = 1 if job.rule in arrays else row[1] + 1
        row[2] += cpus * runtime / 60
        row[3] = max(row[3], cpus)
        row[4] = f"{cpus} CPU, {mem:.0f} MB, {runtime:.0f} min" + (" per array task" if job.rule in arrays else "")
    for members in groups.values():
        cpus, mem, runtime = group_request(members, profile, input_mb)
        row = rows[f"group ({', '.join(sorted({j.rule for j in members})[:3])}...)"]
        row[0] += len(members)
        row[1] += 1
        row[2] += cpus * runtime / 60
        row[3] = max(row[3], cpus)
        row[4] = f"{cpus} CPU, {mem:.0f} MB, {runtime:.0f} min per group job"
    print(f"{'kind':55s} {'jobs':>6s} {'sbatch':>7s} {'CPU-h':>9s}  request")
    for kind, (n, subs, cpu_h, _, req) in sorted(rows.items(), key=lambda kv: -kv[1][2]):
        print(f"{kind:55s} {n:6d} {subs:7d} {cpu_h:9.1f}  {req}")
    print(f"{'total':55s} {sum(r[0] for r in rows.values()):6d} {sum(r[1] for r in rows.values()):7d} "
          f"{sum(r[2] for r in rows.values()):9.1f}")
    if any(math.isnan(r[2]) for r in rows.values()):
        print("(nan: a request that could not be evaluated)")


if __name__ == "__main__":
    main()
