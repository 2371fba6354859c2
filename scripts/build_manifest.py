from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.data.manifest import build_manifest_files  # noqa: E402

build_manifest_files(
    outputs=dict(snakemake.output.items()),
    ground_truth=snakemake.input.ground_truth,
    metadata=snakemake.input.metadata,
    images=snakemake.input.images,
    not_skin_dir=snakemake.input.not_skin,
    ood_dir=snakemake.input.ood,
    ood_tune_dir=snakemake.input.get("ood_tune"),
    unlabeled_dir=snakemake.input.get("unlabeled"),
    masks_dir=snakemake.input.get("masks"),
    labels_cfg=snakemake.params.labels,
    bad_images=snakemake.params.bad_images,
    unk=snakemake.params.unk,
    threads=snakemake.threads,
    near_duplicate_bits=snakemake.params.near_duplicate_bits,
    sources={name: (table, snakemake.params.sources[name])
             for name, table in zip(snakemake.params.get("sources", {}), snakemake.input.get("sources", []))},
)
