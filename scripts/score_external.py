from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.score.score import score_file  # noqa: E402

entry, bootstrap = snakemake.params.entry, snakemake.params.report["bootstrap"]
score_file(snakemake.input.predictions, snakemake.params.out_dir, format=entry["format"], classes=entry["classes"],
           class_map=entry["class_map"], ground_truth=entry["ground_truth"], groups=entry["groups"],
           manifest_tsv=snakemake.input.get("manifest"), task=entry["task"], n_resamples=bootstrap["resamples"],
           level=bootstrap["level"], seed=bootstrap["seed"], n_bins=snakemake.params.report["calibration_bins"])
