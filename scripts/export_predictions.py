from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.score.export import export_predictions  # noqa: E402

export_predictions(snakemake.input.predictions, snakemake.output.exchange)
