from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.label_efficiency import label_efficiency  # noqa: E402

label_efficiency(snakemake.input.runs, snakemake.params.experiments, snakemake.output.png, snakemake.output.svg,
                 snakemake.output.table.removesuffix(".html"))
