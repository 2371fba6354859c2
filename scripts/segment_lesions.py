from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from pathlib import Path  # noqa: E402

from samderm.features.masks import segment_lesions  # noqa: E402

crop = snakemake.params.features["crop"]
segment_lesions(
    out_dir=Path(snakemake.output.masks).parent,
    manifest=snakemake.input.manifest,
    viewset=snakemake.wildcards.viewset,
    mask_source=crop["mask_source"],
    segmenter=snakemake.params.segmenter,
    segmenter_cfg=snakemake.params.encoder,
    resolution=crop["resolution"],
    features_cfg=snakemake.params.features,
    views=snakemake.input.views[0] if snakemake.input.views else None,
    threads=snakemake.threads,
)
