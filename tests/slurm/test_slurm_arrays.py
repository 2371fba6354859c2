"""The SLURM executor's array batches split by request (samderm/slurm_arrays.py), on the real plugin class."""

from __future__ import annotations

from types import SimpleNamespace

import snakemake_executor_plugin_slurm as plugin

from samderm.slurm_arrays import by_request, split_slurm_arrays_by_request


def job(name: str, mem_mb: int, runtime: int = 3, threads: int = 1) -> SimpleNamespace:
    return SimpleNamespace(name=name, threads=threads, resources={"mem_mb": mem_mb, "runtime": runtime, "tmpdir": "/tmp"})


def test_jobs_of_equal_requests_share_an_array_in_their_order():
    jobs = [job("a", 2001), job("retry", 4001, 6), job("b", 2001), job("c", 2001, threads=2), job("d", 2001)]
    assert [[j.name for j in group] for group in by_request(jobs)] == [["a", "b", "d"], ["retry"], ["c"]]


def test_the_executor_submits_one_array_per_request(monkeypatch):
    submitted = []
    monkeypatch.setattr(plugin.Executor, "_submit_array_jobs", lambda self, jobs: submitted.append([j.name for j in jobs]))
    assert split_slurm_arrays_by_request()
    assert split_slurm_arrays_by_request()  # a second call (every Snakefile parse) patches nothing twice
    plugin.Executor._submit_array_jobs(None, [job("a", 2001), job("retry", 4001, 6), job("b", 2001)])
    assert submitted == [["a", "b"], ["retry"]]
