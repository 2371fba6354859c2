from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.figures import ood_curves_figure  # noqa: E402

ood_curves_figure(snakemake.input.runs, snakemake.input.curves, snakemake.wildcards.exp,
                  snakemake.params.report["selection_metric"], snakemake.output.png, snakemake.output.svg)
