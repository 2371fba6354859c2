from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.score.demo import demo_external_predictions  # noqa: E402

demo_external_predictions(snakemake.input.splits, snakemake.input.manifest, snakemake.output[0],
                          snakemake.params.classes, snakemake.params.seed)
