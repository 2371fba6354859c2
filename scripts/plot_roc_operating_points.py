from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.operating_points import roc_operating_points_figure  # noqa: E402

roc_operating_points_figure(snakemake.input.runs, [p.removesuffix("/predictions.tsv") for p in snakemake.input.predictions],
                            snakemake.params.report["selection_metric"], snakemake.output.png, snakemake.output.svg,
                            snakemake.params.held_out_experiments)
