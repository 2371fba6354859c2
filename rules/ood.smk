rule ood_scores:
    input:
        model="results/runs/" + RUN + "/model.pt",
        manifest="results/data/manifest.tsv",
        splits="results/data/splits.tsv",
        views=views_for_run,
        features=lambda w: store_files(
            [f"results/features/{w.encoder}-{w.pooling}-r{w.res}/{w.crop}/images"]
        ),
    output:
        scores="results/ood/" + RUN + "/scores.tsv",
        metrics="results/ood/" + RUN + "/metrics.tsv",
        curves="results/ood/" + RUN + "/curves.tsv",
        gate="results/ood/" + RUN + "/gate.tsv",
        tuning="results/ood/" + RUN + "/tuning.tsv",
    log:
        "results/logs/ood_scores/" + RUN + ".log",
    wildcard_constraints:
        arch=TRAINED_ARCHS,
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        ood=config["ood"],
    script:
        "../scripts/ood_scores.py"
