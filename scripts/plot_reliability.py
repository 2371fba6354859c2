from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.reliability import reliability_figure  # noqa: E402

reliability_figure(snakemake.input.runs, snakemake.input.calibration,
                   [p.removesuffix("/predictions.tsv") for p in snakemake.input.predictions],
                   snakemake.params.report["selection_metric"], snakemake.params.report["calibration_bins"],
                   snakemake.output.png, snakemake.output.svg)
