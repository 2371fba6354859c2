# Heads on cached features: trained runs (parallel, multihead) and ensembles of their predictions.

RUN_DIR = "results/runs/" + RUN


def ensemble_member_predictions(wildcards):
    """predictions.tsv of each member architecture of the same experiment, loss, crop, features and seed."""
    members = config["architectures"][wildcards.arch]["members"]
    return expand(
        RUN_DIR + "/predictions.tsv", **{**dict(wildcards.items()), "arch": members}
    )


rule train_heads:
    input:
        manifest="results/data/manifest.tsv",
        splits="results/data/splits.tsv",
        views=views_for_run,
        stores=lambda wildcards: store_files(feature_stores_for_run(wildcards)),
    output:
        model=RUN_DIR + "/model.pt",
        metrics=RUN_DIR + "/metrics.json",
        predictions=RUN_DIR + "/predictions.tsv",
        history=RUN_DIR + "/history.tsv",
        submission=RUN_DIR + "/isic_submission.csv",
        ground_truth=RUN_DIR + "/isic_ground_truth.csv",
    log:
        "results/logs/train_heads/" + RUN + ".log",
    wildcard_constraints:
        arch=TRAINED_ARCHS,
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        run=run_params,
        store_dirs=feature_stores_for_run,
    script:
        "../scripts/train_heads.py"


rule ensemble_heads:
    input:
        members=ensemble_member_predictions,
    output:
        metrics=RUN_DIR + "/metrics.json",
        predictions=RUN_DIR + "/predictions.tsv",
        history=RUN_DIR + "/history.tsv",
        submission=RUN_DIR + "/isic_submission.csv",
        ground_truth=RUN_DIR + "/isic_ground_truth.csv",
    log:
        "results/logs/ensemble_heads/" + RUN + ".log",
    wildcard_constraints:
        arch=ENSEMBLE_ARCHS,
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        run=run_params,
    script:
        "../scripts/ensemble_heads.py"
