from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from pathlib import Path  # noqa: E402

from samderm.features.extract import extract_feature_store  # noqa: E402

extract_feature_store(
    store_dir=Path(snakemake.output.index).parent,
    manifest=snakemake.input.manifest,
    feature_set={
        "encoder": snakemake.wildcards.encoder,
        "pooling": snakemake.wildcards.pooling,
        "resolution": int(snakemake.wildcards.res),
        "crop": snakemake.wildcards.crop,
        "viewset": snakemake.wildcards.viewset,
    },
    features_cfg=snakemake.params.features,
    encoder_cfg=snakemake.params.encoder,
    views=snakemake.input.views[0] if snakemake.input.views else None,
    threads=snakemake.threads,
    masks=Path(snakemake.input.masks[0]).parent if snakemake.input.masks else None,
)
