from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.ood_intervals import bootstrap_ood  # noqa: E402
from samderm.report.summaries import BASELINE  # noqa: E402

bootstrap = snakemake.params.report["bootstrap"]
bootstrap_ood([p.removesuffix("/scores.tsv") for p in snakemake.input.scores], snakemake.input.manifest,
              snakemake.output.intervals, bootstrap["resamples"], bootstrap["level"], bootstrap["seed"], BASELINE)
