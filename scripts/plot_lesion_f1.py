from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.figures import lesion_f1_by_loss  # noqa: E402

lesion_f1_by_loss(snakemake.input.runs, snakemake.wildcards.exp, snakemake.output.png, snakemake.output.svg)
