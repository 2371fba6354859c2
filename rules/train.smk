# Heads on cached features: trained runs (parallel, multihead), probes and ensembles of their predictions.


rule train_heads:
    input:
        manifest="results/data/manifest.tsv",
        splits="results/data/splits.tsv",
        views=views_for_run,
        stores=lambda wildcards: store_files(feature_stores_for_run(wildcards)),
    output:
        model=f"results/runs/{RUN}/model.pt",
        metrics=f"results/runs/{RUN}/metrics.json",
        predictions=f"results/runs/{RUN}/predictions.tsv",
        history=f"results/runs/{RUN}/history.tsv",
        submission=f"results/runs/{RUN}/isic_submission.csv",
        ground_truth=f"results/runs/{RUN}/isic_ground_truth.csv",
        semi_supervised=f"results/runs/{RUN}/semi_supervised.tsv",
    log:
        f"results/logs/train_heads/{RUN}.log",
    wildcard_constraints:
        arch=TRAINED_ARCHS,
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),  # measured on the demo: 1.1 GB (Python, torch, the run's features)
        runtime=per_attempt(10),
    params:
        run=run_params,
        store_dirs=feature_stores_for_run,
    script:
        "../scripts/train_heads.py"


rule train_probe:
    input:
        manifest="results/data/manifest.tsv",
        splits="results/data/splits.tsv",
        views=views_for_run,
        stores=lambda wildcards: store_files(feature_stores_for_run(wildcards)),
    output:
        probe=f"results/runs/{RUN}/probe.json",
        metrics=f"results/runs/{RUN}/metrics.json",
        predictions=f"results/runs/{RUN}/predictions.tsv",
        history=f"results/runs/{RUN}/history.tsv",
        submission=f"results/runs/{RUN}/isic_submission.csv",
        ground_truth=f"results/runs/{RUN}/isic_ground_truth.csv",
    log:
        f"results/logs/train_probe/{RUN}.log",
    wildcard_constraints:
        arch=PROBE_ARCHS,
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        run=run_params,
        store_dirs=feature_stores_for_run,
    script:
        "../scripts/train_probe.py"


rule ensemble_heads:
    input:
        members=ensemble_member_predictions,
    output:
        metrics=f"results/runs/{RUN}/metrics.json",
        predictions=f"results/runs/{RUN}/predictions.tsv",
        history=f"results/runs/{RUN}/history.tsv",
        submission=f"results/runs/{RUN}/isic_submission.csv",
        ground_truth=f"results/runs/{RUN}/isic_ground_truth.csv",
    log:
        f"results/logs/ensemble_heads/{RUN}.log",
    wildcard_constraints:
        arch=ENSEMBLE_ARCHS,
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        run=run_params,
    script:
        "../scripts/ensemble_heads.py"
