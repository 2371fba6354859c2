"""One SLURM job array per request. The SLURM executor plugin (2.8.0) submits the ready jobs of an
array rule as one array in which every task gets the first job's memory and time ("all jobs have
the same resource requirement"). Ours differ: a retry asks for `attempt` times more, and the head
jobs scale with their inputs. On the test cluster a retried training job batched with first
attempts got the first attempt's memory and was killed again (tests/slurm/test_slurm_faults.py).
So each batch is split into arrays of equal requests before it is submitted."""

from __future__ import annotations

from typing import Any, Iterable


def request_of(job: Any) -> tuple:
    """What SLURM is asked for on a job's behalf: its threads and every resource (memory, runtime, ...)."""
    return job.threads, tuple(sorted((name, str(value)) for name, value in job.resources.items()))


def by_request(jobs: Iterable[Any]) -> list[list[Any]]:
    """The jobs in groups of equal requests, each group and the jobs in it in their first order."""
    groups: dict[tuple, list[Any]] = {}
    for job in jobs:
        groups.setdefault(request_of(job), []).append(job)
    return list(groups.values())


def split_slurm_arrays_by_request() -> bool:
    """Make the SLURM executor, where installed, submit one array per request (see above); idempotent.
    Returns whether the executor is there to patch."""
    try:
        from snakemake_executor_plugin_slurm import Executor
    except ImportError:
        return False
    submit = Executor._submit_array_jobs
    if getattr(submit, "splits_by_request", False):
        return True

    def submit_by_request(self, jobs):
        for same_request in by_request(jobs):
            submit(self, same_request)

    submit_by_request.splits_by_request = True
    Executor._submit_array_jobs = submit_by_request
    return True
