rule ood_scores:
    input:
        model=f"results/runs/{RUN}/model.pt",
        manifest="results/data/manifest.tsv",
        splits="results/data/splits.tsv",
        views=views_for_run,
        features=image_store_files,
    output:
        scores=f"results/ood/{RUN}/scores.tsv",
        metrics=f"results/ood/{RUN}/metrics.tsv",
        curves=f"results/ood/{RUN}/curves.tsv",
        gate=f"results/ood/{RUN}/gate.tsv",
        tuning=f"results/ood/{RUN}/tuning.tsv",
        end_to_end=f"results/ood/{RUN}/end_to_end.tsv",
        end_to_end_images=f"results/ood/{RUN}/end_to_end_images.tsv",
        class_rejection=f"results/ood/{RUN}/class_rejection.tsv",
        risk_coverage=f"results/ood/{RUN}/risk_coverage.tsv",
    log:
        f"results/logs/ood_scores/{RUN}.log",
    wildcard_constraints:
        arch=TRAINED_ARCHS,
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),  # measured on the demo: 1.0 GB (Python, torch, the model and features)
        runtime=per_attempt(10),
    params:
        # which runs are scored is the workflow's business, not the job's: editing ood.exclude reruns no OOD job
        ood={k: v for k, v in config["ood"].items() if k != "exclude"},
        held_out_classes=held_out_classes_of,
    script:
        "../scripts/ood_scores.py"
