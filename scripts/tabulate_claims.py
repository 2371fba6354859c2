from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.claims import tabulate_claims  # noqa: E402

tabulate_claims(snakemake.input.runs, [p.removesuffix("/predictions.tsv") for p in snakemake.input.predictions],
                snakemake.input.manifest, snakemake.output.table.removesuffix(".html"), snakemake.params.matrix,
                snakemake.params.report, snakemake.threads)
