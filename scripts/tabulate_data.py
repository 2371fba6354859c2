from pathlib import Path

from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.summaries import tabulate_data  # noqa: E402

tabulate_data(snakemake.input.manifest, snakemake.input.counts, snakemake.input.splits, snakemake.input.balance,
              Path(snakemake.output.sources).parent, snakemake.params.labels, snakemake.params.unk)
