from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.features.checkpoint import download_checkpoint  # noqa: E402

download_checkpoint(snakemake.params.encoder["url"], snakemake.output[0], snakemake.params.encoder["sha256"])
