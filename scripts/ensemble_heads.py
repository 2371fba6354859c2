from pathlib import Path

from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.train import ensemble_run  # noqa: E402

ensemble_run(
    member_predictions=list(snakemake.input.members),
    params=snakemake.params.run,
    out_dir=Path(snakemake.output.metrics).parent,
)
