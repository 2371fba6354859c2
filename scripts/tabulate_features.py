from pathlib import Path

from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.summaries import tabulate_features  # noqa: E402

tabulate_features(snakemake.input.settings, Path(snakemake.output.table).parent)
