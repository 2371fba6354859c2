from pathlib import Path

from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.summaries import tabulate_ood  # noqa: E402

tabulate_ood(snakemake.input.ood, snakemake.input.runs, snakemake.input.gates, Path(snakemake.output.detectors).parent,
             snakemake.params.report["selection_metric"], snakemake.input.intervals)
