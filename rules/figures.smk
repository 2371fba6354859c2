# Figures (png for the report, svg for print) of the whole matrix.


rule plot_class_histogram:
    input:
        manifest="results/data/manifest.tsv",
        splits="results/data/splits.tsv",
    output:
        png=report(
            "results/figures/class_histogram.png",
            caption="../report/class_histogram.rst",
            category="Data",
            subcategory="Figures",
            labels={"figure": "images per class"},
        ),
        svg="results/figures/class_histogram.svg",
    log:
        "results/logs/plot_class_histogram.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
    params:
        labels=config["labels"],
        unk=config["data"]["unk"],
    script:
        "../scripts/plot_class_histogram.py"


rule plot_balance:
    input:
        balance=BALANCE_FILES,
    output:
        png=report(
            "results/figures/balance.png",
            caption="../report/balance.rst",
            category="Data",
            subcategory="Figures",
            labels={"figure": "counts before vs after balancing"},
        ),
        svg="results/figures/balance.svg",
    log:
        "results/logs/plot_balance.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
    script:
        "../scripts/plot_balance.py"


rule plot_lesion_f1:
    input:
        runs="results/tables/runs.tsv",
    output:
        png=report(
            "results/figures/lesion_f1_by_loss_{exp}.png",
            caption="../report/lesion_f1_by_loss.rst",
            category="Classification",
            subcategory="Figures",
            labels={"figure": "lesion macro-F1 by loss", "experiment": "{exp}"},
        ),
        svg="results/figures/lesion_f1_by_loss_{exp}.svg",
    log:
        "results/logs/plot_lesion_f1/{exp}.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
    script:
        "../scripts/plot_lesion_f1.py"


rule plot_confusion_matrix:
    input:
        runs="results/tables/runs.tsv",
        metrics=lambda w: [
            f"{d}/metrics.json" for d in run_dirs() if d.split("/")[2] == w.exp
        ],
    output:
        png=report(
            "results/figures/confusion_lesion_{exp}.png",
            caption="../report/confusion_lesion.rst",
            category="Classification",
            subcategory="Figures",
            labels={
                "figure": "confusion matrix, best lesion model",
                "experiment": "{exp}",
            },
        ),
        svg="results/figures/confusion_lesion_{exp}.svg",
    log:
        "results/logs/plot_confusion_matrix/{exp}.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
    params:
        report=config["report"],
    script:
        "../scripts/plot_confusion_matrix.py"


rule plot_ood_curves:
    input:
        runs="results/tables/runs.tsv",
        curves=lambda w: [
            f"{d}/curves.tsv" for d in ood_dirs() if d.split("/")[2] == w.exp
        ],
    output:
        png=report(
            "results/figures/ood_curves_{exp}.png",
            caption="../report/ood_curves.rst",
            category="OOD",
            subcategory="Figures",
            labels={"figure": "ROC and PR curves", "experiment": "{exp}"},
        ),
        svg="results/figures/ood_curves_{exp}.svg",
    log:
        "results/logs/plot_ood_curves/{exp}.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
    params:
        report=config["report"],
    script:
        "../scripts/plot_ood_curves.py"


rule plot_crop_overlays:
    input:
        overlays=f"results/features/{FSET}/lesion/images/overlays",
    output:
        png=report(
            f"results/figures/crop_overlays_{FSET}.png",
            caption="../report/crop_overlays.rst",
            category="Crops",
            labels={"feature set": FSET},
        ),
        svg=f"results/figures/crop_overlays_{FSET}.svg",
    log:
        f"results/logs/plot_crop_overlays/{FSET}.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
    script:
        "../scripts/plot_crop_overlays.py"


rule plot_rulegraph:
    input:
        workflow.main_snakefile,
    output:
        dot="results/figures/rulegraph.dot",
        png=report(
            "results/figures/rulegraph.png",
            caption="../report/rulegraph.rst",
            category="Data",
            subcategory="Pipeline",
            labels={"figure": "rule graph"},
        ),
        svg="results/figures/rulegraph.svg",
    log:
        "results/logs/plot_rulegraph.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
    params:
        # the rule graph depends on the whole study (which experiments, losses, crops ...)
        config=config,
    script:
        "../scripts/plot_rulegraph.py"


rule plot_reliability:
    input:
        runs="results/tables/runs.tsv",
        calibration="results/tables/calibration_runs.tsv",
        predictions=[f"{d}/predictions.tsv" for d in run_dirs()],
    output:
        png=report(
            "results/figures/reliability.png",
            caption="../report/reliability.rst",
            category="Calibration",
            subcategory="Figures",
            labels={"figure": "reliability diagrams, best model per task"},
        ),
        svg="results/figures/reliability.svg",
    log:
        "results/logs/plot_reliability.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        report=config["report"],
    script:
        "../scripts/plot_reliability.py"


rule plot_ood_levels:
    input:
        runs="results/tables/runs.tsv",
        ood="results/tables/ood_runs.tsv",
        intervals="results/tables/ood_intervals.tsv",
    output:
        png=report(
            "results/figures/ood_levels.png",
            caption="../report/ood_levels.rst",
            category="OOD",
            subcategory="Figures",
            labels={"figure": "detectors on far and near OOD"},
        ),
        svg="results/figures/ood_levels.svg",
    log:
        "results/logs/plot_ood_levels.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
    params:
        report=config["report"],
    script:
        "../scripts/plot_ood_levels.py"
