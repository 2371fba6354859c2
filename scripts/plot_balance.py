from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.figures import balance_figure  # noqa: E402

balance_figure(snakemake.input.balance, snakemake.output.png, snakemake.output.svg)
