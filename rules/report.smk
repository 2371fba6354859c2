# Results of the whole matrix: the tidy runs table, summary tables (csv/md/tex/html), figures
# (png/svg) and what `snakemake --report` shows (the .html tables and .png figures).
REPORT_EXPERIMENTS = list(dict.fromkeys(r.experiment for r in RUNS))
REPORT_BALANCINGS = list(dict.fromkeys(balancing_of(e) for e in REPORT_EXPERIMENTS))
OOD_EXPERIMENTS = list(
    dict.fromkeys(
        r.experiment for r in RUNS if r.architecture in config["ood"]["architectures"]
    )
)
CROP_FEATURE_SETS = list(
    dict.fromkeys(r.feature_set for r in RUNS if r.crop == "lesion")
)
TABLE_FORMATS = [".csv", ".md", ".tex"]


BALANCE_FILES = [f"results/data/balance/{b}.tsv" for b in REPORT_BALANCINGS]


rule aggregate_runs:
    input:
        metrics=[f"{d}/metrics.json" for d in run_dirs()],
    output:
        runs="results/tables/runs.tsv",
    log:
        "results/logs/aggregate_runs.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/aggregate_runs.py"


rule aggregate_ood:
    input:
        metrics=[f"{d}/metrics.tsv" for d in ood_dirs()],
    output:
        ood="results/tables/ood_runs.tsv",
    log:
        "results/logs/aggregate_ood.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/aggregate_ood.py"


rule tabulate_classification:
    input:
        runs="results/tables/runs.tsv",
    output:
        multiext("results/tables/best_models", *TABLE_FORMATS),
        multiext("results/tables/architectures", *TABLE_FORMATS),
        multiext("results/tables/losses", *TABLE_FORMATS),
        multiext("results/tables/configurations", *TABLE_FORMATS),
        best=report(
            "results/tables/best_models.html",
            caption="../report/best_models.rst",
            category="Classification",
            subcategory="Tables",
            labels={"table": "best model per task"},
        ),
        architectures=report(
            "results/tables/architectures.html",
            caption="../report/architectures.rst",
            category="Classification",
            subcategory="Tables",
            labels={"table": "parallel vs multihead vs ensemble"},
        ),
        losses=report(
            "results/tables/losses.html",
            caption="../report/losses.rst",
            category="Classification",
            subcategory="Tables",
            labels={"table": "macro-F1 and accuracy by loss"},
        ),
        configurations=report(
            "results/tables/configurations.html",
            caption="../report/configurations.rst",
            category="Classification",
            subcategory="Tables",
            labels={"table": "every configuration"},
        ),
    log:
        "results/logs/tabulate_classification.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        report=config["report"],
    script:
        "../scripts/tabulate_classification.py"


rule tabulate_data:
    input:
        balance=BALANCE_FILES,
        manifest="results/data/manifest.tsv",
        counts="results/data/counts.tsv",
        splits="results/data/splits.tsv",
    output:
        multiext("results/tables/data_sources", *TABLE_FORMATS),
        multiext("results/tables/class_counts", *TABLE_FORMATS),
        multiext("results/tables/balance", *TABLE_FORMATS),
        sources=report(
            "results/tables/data_sources.html",
            caption="../report/data_sources.rst",
            category="Data",
            subcategory="Tables",
            labels={"table": "images per source"},
        ),
        classes=report(
            "results/tables/class_counts.html",
            caption="../report/class_counts.rst",
            category="Data",
            subcategory="Tables",
            labels={"table": "images per class and split"},
        ),
        balance=report(
            "results/tables/balance.html",
            caption="../report/balance_table.rst",
            category="Data",
            subcategory="Tables",
            labels={"table": "counts before vs after balancing"},
        ),
    log:
        "results/logs/tabulate_data.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        labels=config["labels"],
        unk=config["data"]["unk"],
    script:
        "../scripts/tabulate_data.py"


rule tabulate_ood:
    input:
        ood="results/tables/ood_runs.tsv",
        runs="results/tables/runs.tsv",
        gates=[f"{d}/gate.tsv" for d in ood_dirs()],
    output:
        multiext("results/tables/ood_detectors", *TABLE_FORMATS),
        multiext("results/tables/ood_gate", *TABLE_FORMATS),
        detectors=report(
            "results/tables/ood_detectors.html",
            caption="../report/ood_detectors.rst",
            category="OOD",
            subcategory="Tables",
            labels={"table": "detectors vs MSP baseline"},
        ),
        gate=report(
            "results/tables/ood_gate.html",
            caption="../report/ood_gate.rst",
            category="OOD",
            subcategory="Tables",
            labels={"table": "the gate in front of the lesion classifier"},
        ),
    log:
        "results/logs/tabulate_ood.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        report=config["report"],
    script:
        "../scripts/tabulate_ood.py"


rule tabulate_features:
    input:
        settings=[f"{d}/settings.json" for d in feature_store_dirs()],
    output:
        multiext("results/tables/feature_sets", *TABLE_FORMATS),
        table=report(
            "results/tables/feature_sets.html",
            caption="../report/feature_sets.rst",
            category="Features",
            labels={"table": "feature stores"},
        ),
    log:
        "results/logs/tabulate_features.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/tabulate_features.py"


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
        mem_mb=1000,
        runtime=10,
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
        mem_mb=1000,
        runtime=10,
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
        mem_mb=1000,
        runtime=10,
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
        mem_mb=1000,
        runtime=10,
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
        mem_mb=1000,
        runtime=10,
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
        mem_mb=1000,
        runtime=10,
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
        mem_mb=1000,
        runtime=10,
    params:
        # the rule graph depends on the whole study (which experiments, losses, crops ...)
        config=config,
    script:
        "../scripts/plot_rulegraph.py"


REPORT_TARGETS = [
    "results/tables/runs.tsv",
    "results/tables/ood_runs.tsv",
    *[
        f"results/tables/{name}{ext}"
        for name in (
            "best_models",
            "architectures",
            "losses",
            "configurations",
            "data_sources",
            "class_counts",
            "balance",
            "ood_detectors",
            "ood_gate",
            "feature_sets",
        )
        for ext in TABLE_FORMATS + [".html"]
    ],
    *expand(
        "results/figures/{name}.{ext}",
        name=["class_histogram", "balance", "rulegraph"],
        ext=["png", "svg"],
    ),
    *expand(
        "results/figures/lesion_f1_by_loss_{exp}.{ext}",
        exp=REPORT_EXPERIMENTS,
        ext=["png", "svg"],
    ),
    *expand(
        "results/figures/confusion_lesion_{exp}.{ext}",
        exp=REPORT_EXPERIMENTS,
        ext=["png", "svg"],
    ),
    *expand(
        "results/figures/ood_curves_{exp}.{ext}",
        exp=OOD_EXPERIMENTS,
        ext=["png", "svg"],
    ),
    *expand(
        "results/figures/crop_overlays_{fset}.{ext}",
        fset=CROP_FEATURE_SETS,
        ext=["png", "svg"],
    ),
]
