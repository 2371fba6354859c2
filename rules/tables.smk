# Summary tables (csv/md/tex/html) of the whole matrix: the tidy runs table, classification,
# calibration, bootstrap intervals, claims, data, OOD and feature stores.


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
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        collapse=config["report"]["collapse"],
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
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    script:
        "../scripts/aggregate_ood.py"


rule tabulate_classification:
    input:
        runs="results/tables/runs.tsv",
        intervals="results/tables/intervals.tsv",
    output:
        multiext("results/tables/best_models", *TABLE_FORMATS),
        multiext("results/tables/architectures", *TABLE_FORMATS),
        multiext("results/tables/losses", *TABLE_FORMATS),
        multiext("results/tables/configurations", *TABLE_FORMATS),
        multiext("results/tables/probes", *TABLE_FORMATS),
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
        probes=report(
            "results/tables/probes.html",
            caption="../report/probes.rst",
            category="Classification",
            subcategory="Tables",
            labels={"table": "MLP vs probes vs majority per encoder"},
        ),
    log:
        "results/logs/tabulate_classification.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        report=config["report"],
        held_out_experiments=held_out_experiments(),
        architecture_types={n: a["type"] for n, a in config["architectures"].items()},
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
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
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
        intervals="results/tables/ood_intervals.tsv",
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
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        report=config["report"],
    script:
        "../scripts/tabulate_ood.py"


rule tabulate_gate:
    input:
        runs="results/tables/runs.tsv",
        manifest="results/data/manifest.tsv",
        tuning=[f"{d}/tuning.tsv" for d in ood_dirs()],
        end_to_end=[f"{d}/end_to_end.tsv" for d in ood_dirs()],
        class_rejection=[f"{d}/class_rejection.tsv" for d in ood_dirs()],
        risk_coverage=[f"{d}/risk_coverage.tsv" for d in ood_dirs()],
        images=[f"{d}/end_to_end_images.tsv" for d in ood_dirs()],
    output:
        multiext("results/tables/ood_end_to_end", *TABLE_FORMATS),
        multiext("results/tables/ood_class_rejection", *TABLE_FORMATS),
        end_to_end=report(
            "results/tables/ood_end_to_end.html",
            caption="../report/ood_end_to_end.rst",
            category="OOD",
            subcategory="Tables",
            labels={"table": "the gate end to end: test source x outcome"},
        ),
        class_rejection=report(
            "results/tables/ood_class_rejection.html",
            caption="../report/ood_class_rejection.rst",
            category="OOD",
            subcategory="Tables",
            labels={"table": "lesions rejected by the gate, per class"},
        ),
        risk_png=report(
            "results/figures/ood_risk_coverage.png",
            caption="../report/ood_risk_coverage.rst",
            category="OOD",
            subcategory="Figures",
            labels={"figure": "risk-coverage of the lesion task"},
        ),
        risk_svg="results/figures/ood_risk_coverage.svg",
        sheet_png=report(
            "results/figures/ood_accepted.png",
            caption="../report/ood_accepted.rst",
            category="OOD",
            subcategory="Figures",
            labels={"figure": "OOD test images the best gate accepts"},
        ),
        sheet_svg="results/figures/ood_accepted.svg",
    log:
        "results/logs/tabulate_gate.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        heads=config["ood"]["heads"],
        selection_metric=config["report"]["selection_metric"],
    script:
        "../scripts/tabulate_gate.py"


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
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
    script:
        "../scripts/tabulate_features.py"


rule tabulate_encoders:
    input:
        runs="results/tables/runs.tsv",
        settings=[f"{d}/settings.json" for d in feature_store_dirs()],
    output:
        multiext("results/tables/encoders", *TABLE_FORMATS),
        table=report(
            "results/tables/encoders.html",
            caption="../report/encoders.rst",
            category="Features",
            labels={"table": "encoders compared"},
        ),
        png=report(
            "results/figures/encoders.png",
            caption="../report/encoders.rst",
            category="Features",
            labels={"figure": "encoders compared"},
        ),
        svg="results/figures/encoders.svg",
    log:
        "results/logs/tabulate_encoders.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
    params:
        logs=extraction_logs(),
        metric=config["report"]["selection_metric"],
        terms=ENCODER_TERMS,
    script:
        "../scripts/tabulate_encoders.py"


rule export_predictions:
    input:
        predictions=[f"{d}/predictions.tsv" for d in run_dirs()],
    output:
        exchange=directory("results/exchange"),
    log:
        "results/logs/export_predictions.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    script:
        "../scripts/export_predictions.py"
