#!/usr/bin/env bash
# The array stress study at scale: TASKS (default 1000) tiny jobs of one rule through the real
# slurm profile on the one-node test cluster (bash tests/slurm/start_cluster.sh first, as root).
# Prints the jobs, the array submissions and the wall time; fails if a job is lost or runs twice.
# CI runs the same test with 45 jobs. 1,000 jobs: 50 array submissions, 2,511 s on the 2-core test machine.
#   TASKS=1000 bash benchmarks/slurm_stress.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SAMDERM_STRESS_TASKS=${TASKS:-1000} REQUIRE_SLURM=1 ${PYTHON:-.venv/bin/python} -m pytest -q -s -p no:cacheprovider \
    tests/slurm/test_array_stress.py
