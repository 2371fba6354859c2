from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.data.sources.read import write_source  # noqa: E402

write_source(snakemake.params.name, snakemake.params.source, snakemake.output.table)
