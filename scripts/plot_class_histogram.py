from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.figures import class_histogram  # noqa: E402

class_histogram(snakemake.input.manifest, snakemake.input.splits, snakemake.output.png, snakemake.output.svg,
                snakemake.params.labels, snakemake.params.unk)
