from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.calibration import calibrate_runs  # noqa: E402

calibrate_runs([p.removesuffix("/predictions.tsv") for p in snakemake.input.predictions], snakemake.output.runs,
               snakemake.output.table.removesuffix(".html"), snakemake.params.report["calibration_bins"])
