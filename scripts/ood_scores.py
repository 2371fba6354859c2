from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.ood.pipeline import run_ood  # noqa: E402

run_ood(
    model_path=snakemake.input.model,
    manifest_path=snakemake.input.manifest,
    splits_path=snakemake.input.splits,
    views_path=snakemake.input.views,
    feature_files=snakemake.input.features,
    ood=snakemake.params.ood,
    outputs=dict(snakemake.output.items()),
    held_out_classes=snakemake.params.held_out_classes,
)
