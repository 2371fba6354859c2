from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.semi_supervised import tabulate_semi_supervised  # noqa: E402

tabulate_semi_supervised([p.removesuffix("/semi_supervised.tsv") for p in snakemake.input.pools], snakemake.params.twins,
                         snakemake.input.manifest, snakemake.output.table.removesuffix(".html"),
                         snakemake.params.classes, snakemake.params.report)
