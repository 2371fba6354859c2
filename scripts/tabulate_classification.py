from pathlib import Path

from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.summaries import tabulate_classification  # noqa: E402

tabulate_classification(snakemake.input.runs, Path(snakemake.output.best).parent,
                        snakemake.params.report["selection_metric"], snakemake.input.intervals,
                        snakemake.params.held_out_experiments, snakemake.params.architecture_types)
