from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.aggregate import aggregate_runs  # noqa: E402

aggregate_runs([p.removesuffix("/metrics.json") for p in snakemake.input.metrics], snakemake.output.runs,
               snakemake.params.collapse)
