from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from pathlib import Path  # noqa: E402

from samderm.predict.study import bundle_study  # noqa: E402

bundle_study(snakemake.params.config, Path(snakemake.output.bundle).parent, results=Path(snakemake.input.runs).parents[1])
