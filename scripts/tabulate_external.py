from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.score.tabulate import tabulate_external  # noqa: E402

tabulate_external(dict(zip(snakemake.params.names, snakemake.input.scored)), snakemake.input.runs,
                  [p.removesuffix("/predictions.tsv") for p in snakemake.input.predictions],
                  snakemake.output.table.removesuffix(".html"), snakemake.params.report,
                  snakemake.params.exclude_experiments)
