from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.figures import ood_levels_figure  # noqa: E402

ood_levels_figure(snakemake.input.runs, snakemake.input.ood, snakemake.input.intervals,
                  snakemake.params.report["selection_metric"], snakemake.output.png, snakemake.output.svg)
