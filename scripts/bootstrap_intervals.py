from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.intervals import bootstrap_intervals  # noqa: E402

bootstrap = snakemake.params.report["bootstrap"]
bootstrap_intervals([p.removesuffix("/predictions.tsv") for p in snakemake.input.predictions],
                    snakemake.input.manifest, snakemake.output.intervals,
                    bootstrap["resamples"], bootstrap["level"], bootstrap["seed"], snakemake.threads)
