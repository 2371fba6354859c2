from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.figures import confusion_figure  # noqa: E402

confusion_figure(snakemake.input.runs, snakemake.input.metrics, snakemake.wildcards.exp,
                 snakemake.params.report["selection_metric"], snakemake.output.png, snakemake.output.svg)
