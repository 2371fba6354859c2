from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.data.balance import make_views_files  # noqa: E402

make_views_files(
    manifest_path=snakemake.input.manifest,
    splits_path=snakemake.input.splits,
    name=snakemake.wildcards.balancing,
    cfg=snakemake.params.balancing,
    views_path=snakemake.output.views,
    balance_path=snakemake.output.balance,
)
