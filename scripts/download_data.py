from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.data.download import download_dataset  # noqa: E402

download_dataset(snakemake.params.dataset, snakemake.params.download, snakemake.params.out_dir,
                 snakemake.params.partial_dir, expected=snakemake.params.get("expected"))
