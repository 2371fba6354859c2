from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.operating_points import tabulate_operating_points  # noqa: E402

tabulate_operating_points(snakemake.input.runs, [p.removesuffix("/predictions.tsv") for p in snakemake.input.predictions],
                          snakemake.input.manifest, snakemake.output.operating_points.removesuffix(".html"),
                          snakemake.output.class_auroc.removesuffix(".html"), snakemake.params.report,
                          snakemake.params.held_out_experiments)
