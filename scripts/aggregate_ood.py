from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.aggregate import aggregate_ood  # noqa: E402

aggregate_ood([p.removesuffix("/metrics.tsv") for p in snakemake.input.metrics], snakemake.output.ood)
