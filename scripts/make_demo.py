from pathlib import Path

from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.data.demo import generate_demo  # noqa: E402

generate_demo(
    isic_dir=Path(snakemake.output.ground_truth).parent,
    not_skin_dir=snakemake.output.not_skin,
    ood_dir=snakemake.output.ood,
    cfg=snakemake.params.demo,
    unlabeled_dir=snakemake.output.unlabeled,
    clinical_dir=Path(snakemake.output.clinical_labels).parent if snakemake.output.get("clinical_labels") else None,
)
