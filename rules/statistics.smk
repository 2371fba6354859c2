# Statistics over the whole matrix: calibration, bootstrap intervals, paired claims, OOD intervals,
# and the semi-supervised runs against their supervised twins.


rule calibrate_runs:
    input:
        predictions=[f"{d}/predictions.tsv" for d in run_dirs()],
    output:
        multiext("results/tables/calibration", *TABLE_FORMATS),
        runs="results/tables/calibration_runs.tsv",
        table=report(
            "results/tables/calibration.html",
            caption="../report/calibration.rst",
            category="Calibration",
            subcategory="Tables",
            labels={
                "table": "ECE, NLL and Brier before and after temperature scaling"
            },
        ),
    log:
        "results/logs/calibrate_runs.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    params:
        report=config["report"],
    script:
        "../scripts/calibrate_runs.py"


rule bootstrap_intervals:
    input:
        predictions=[f"{d}/predictions.tsv" for d in run_dirs()],
        manifest="results/data/manifest.tsv",
    output:
        intervals="results/tables/intervals.tsv",
    log:
        "results/logs/bootstrap_intervals.log",
    conda:
        "../envs/samderm.yaml"
    threads: 4
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(240),
    params:
        report=config["report"],
    script:
        "../scripts/bootstrap_intervals.py"


rule tabulate_claims:
    input:
        runs="results/tables/runs.tsv",
        predictions=[f"{d}/predictions.tsv" for d in run_dirs()],
        manifest="results/data/manifest.tsv",
    output:
        multiext("results/tables/claims", *TABLE_FORMATS),
        table=report(
            "results/tables/claims.html",
            caption="../report/claims.rst",
            category="Claims",
            labels={"table": "paired differences with intervals"},
        ),
    log:
        "results/logs/tabulate_claims.log",
    conda:
        "../envs/samderm.yaml"
    threads: 4
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(60),
    params:
        matrix=config["matrix"],
        report=config["report"],
    script:
        "../scripts/tabulate_claims.py"


rule bootstrap_ood:
    input:
        scores=[f"{d}/scores.tsv" for d in ood_dirs()],
        manifest="results/data/manifest.tsv",
    output:
        intervals="results/tables/ood_intervals.tsv",
    log:
        "results/logs/bootstrap_ood.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(60),
    params:
        report=config["report"],
    script:
        "../scripts/bootstrap_ood.py"


if SEMI_SUPERVISED_EXPERIMENTS:

    rule tabulate_semi_supervised:
        input:
            pools=[
                f"results/runs/{r.path}/semi_supervised.tsv"
                for r in SEMI_SUPERVISED_RUNS
            ],
            predictions=semi_supervised_predictions(),
            manifest="results/data/manifest.tsv",
        output:
            multiext("results/tables/semi_supervised", *TABLE_FORMATS),
            table=report(
                "results/tables/semi_supervised.html",
                caption="../report/semi_supervised.rst",
                category="Semi-supervised",
                labels={"table": "unlabeled pool and outcome"},
            ),
        log:
            "results/logs/tabulate_semi_supervised.log",
        conda:
            "../envs/samderm.yaml"
        threads: 1
        resources:
            mem_mb=per_attempt(4000),
            runtime=per_attempt(30),
        params:
            twins=SEMI_SUPERVISED_TWINS,
            classes=list(config["labels"]["lesion_classes"])
            + (["UNK"] if config["data"]["unk"] == "keep" else []),
            report=config["report"],
        script:
            "../scripts/tabulate_semi_supervised.py"
