from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from pathlib import Path  # noqa: E402

from samderm.predict.run import predict_images  # noqa: E402

predict = snakemake.params.predict
predict_images(
    source=predict["images"],
    bundle_dir=Path(snakemake.input.bundle).parent,
    out_dir=Path(snakemake.output.predictions).parent,
    masks_dir=predict.get("masks"),
    device=predict.get("device", "cpu"),
    threads=snakemake.threads,
)
