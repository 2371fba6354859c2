from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.rulegraph import plot_workflow_rulegraph  # noqa: E402

plot_workflow_rulegraph(snakemake.input[0], snakemake.params.config, snakemake.output.dot, snakemake.output.png,
                        snakemake.output.svg)
