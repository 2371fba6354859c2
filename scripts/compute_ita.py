from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.data.ita import compute_ita_file  # noqa: E402
from samderm.io import read_tsv  # noqa: E402
from samderm.report.ita_figure import ita_figure  # noqa: E402

table = compute_ita_file(
    manifest_path=snakemake.input.manifest,
    out_tsv=snakemake.output.table,
    ring=snakemake.params.ring,
    min_skin_share=snakemake.params.min_skin_share,
    threads=snakemake.threads,
)
ita_figure(table, read_tsv(snakemake.input.manifest), snakemake.output.figure, snakemake.output.svg)
