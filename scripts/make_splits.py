from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.data.splits import make_splits_file  # noqa: E402

make_splits_file(snakemake.input.manifest, snakemake.params.splits, snakemake.output.splits, snakemake.params.ood_levels,
                 snakemake.params.get("shift", ()))
