from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.data.public_sets import select_images  # noqa: E402

select_images(snakemake.params.sets, snakemake.params.other_sets, dict(snakemake.input.items()),
              snakemake.output.folder, snakemake.params.seed, snakemake.params.key)
