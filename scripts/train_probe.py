from pathlib import Path

from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.train import probe_run  # noqa: E402

probe_run(
    manifest=snakemake.input.manifest,
    splits=snakemake.input.splits,
    views=snakemake.input.views,
    store_dirs=snakemake.params.store_dirs,
    params=snakemake.params.run,
    out_dir=Path(snakemake.output.metrics).parent,
    threads=snakemake.threads,
)
