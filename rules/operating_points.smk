# Operating points of the best models: thresholds chosen on val, applied to test, with group-bootstrap
# intervals; per-class one-vs-rest AUROC; the test ROC with the val-chosen operating points marked.


rule tabulate_operating_points:
    input:
        runs="results/tables/runs.tsv",
        predictions=[f"{d}/predictions.tsv" for d in run_dirs()],
        manifest="results/data/manifest.tsv",
    output:
        multiext("results/tables/operating_points", *TABLE_FORMATS),
        multiext("results/tables/class_auroc", *TABLE_FORMATS),
        operating_points=report(
            "results/tables/operating_points.html",
            caption="../report/operating_points.rst",
            category="Operating points",
            subcategory="Tables",
            labels={"table": "sensitivity and specificity at val-chosen thresholds"},
        ),
        class_auroc=report(
            "results/tables/class_auroc.html",
            caption="../report/operating_points.rst",
            category="Operating points",
            subcategory="Tables",
            labels={"table": "one-vs-rest AUROC per class"},
        ),
    log:
        "results/logs/tabulate_operating_points.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    params:
        report=config["report"],
        held_out_experiments=held_out_experiments(),
    script:
        "../scripts/tabulate_operating_points.py"


rule plot_roc_operating_points:
    input:
        runs="results/tables/runs.tsv",
        predictions=[f"{d}/predictions.tsv" for d in run_dirs()],
    output:
        png=report(
            "results/figures/roc_operating_points.png",
            caption="../report/operating_points.rst",
            category="Operating points",
            subcategory="Figures",
            labels={"figure": "ROC with val-chosen operating points"},
        ),
        svg="results/figures/roc_operating_points.svg",
    log:
        "results/logs/plot_roc_operating_points.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        report=config["report"],
        held_out_experiments=held_out_experiments(),
    script:
        "../scripts/plot_roc_operating_points.py"
