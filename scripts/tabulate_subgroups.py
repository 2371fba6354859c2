from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.subgroups import tabulate_subgroups  # noqa: E402

tabulate_subgroups(snakemake.input.predictions, snakemake.input.manifest, snakemake.input.ita, snakemake.output.table,
                   snakemake.output.markdown.removesuffix(".md"), snakemake.output.gate_markdown.removesuffix(".md"),
                   {"lesion": snakemake.output.lesion_png, "malignancy": snakemake.output.malignancy_png},
                   snakemake.params.bootstrap, snakemake.params.calibration_bins, snakemake.params.selection_metric,
                   snakemake.params.subgroups, snakemake.params.held_out_experiments,
                   figure_svgs={"lesion": snakemake.output.lesion_svg, "malignancy": snakemake.output.malignancy_svg},
                   runs_tsv=snakemake.input.runs, tuning_tsvs=snakemake.input.tuning, image_tsvs=snakemake.input.images,
                   heads=snakemake.params.heads, threads=snakemake.threads)
