from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.external_sources import tabulate_external_sources  # noqa: E402

tabulate_external_sources(snakemake.input.predictions, snakemake.input.manifest, snakemake.output.table,
                          snakemake.output.markdown.removesuffix(".md"), snakemake.output.figure,
                          snakemake.output.operating_points, snakemake.params.bootstrap,
                          snakemake.params.calibration_bins, snakemake.params.selection_metric,
                          snakemake.params.held_out_experiments, figure_svg=snakemake.output.svg,
                          threads=snakemake.threads)
