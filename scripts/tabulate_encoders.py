from pathlib import Path

from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.encoders import tabulate_encoders  # noqa: E402

tabulate_encoders(
    snakemake.input.runs,
    snakemake.input.settings,
    snakemake.params.logs,
    Path(snakemake.output.table).with_suffix(""),
    snakemake.params.metric,
    figure=(snakemake.output.png, snakemake.output.svg),
    terms=snakemake.params.terms,
)
