# External predictions (config external_predictions: {name: {path, classes, ...}}): per-image CSVs of other models,
# PanDerm's schema or the ISIC 2019 submission format, scored like a run and set beside the study's best model.
if config["data"]["source"] == "demo":

    # a stand-in external model for the demo study (seeded; no training)
    rule demo_external_predictions:
        input:
            splits="results/data/splits.tsv",
            manifest="results/data/manifest.tsv",
        output:
            "results/data/external/demo_reference.csv",
        log:
            "results/logs/demo_external_predictions.log",
        conda:
            "../envs/samderm.yaml"
        threads: 1
        resources:
            mem_mb=per_attempt(2000),
            runtime=per_attempt(10),
        params:
            classes=list(config["labels"]["lesion_classes"])
            + (["UNK"] if config["data"]["unk"] == "keep" else []),
            seed=config["data"]["demo"]["seed"],
        script:
            "../scripts/make_demo_external.py"


rule score_external:
    input:
        unpack(external_inputs),
    output:
        metrics="results/external/{name}/metrics.json",
        intervals="results/external/{name}/intervals.tsv",
        calibration="results/external/{name}/calibration.tsv",
        class_auroc="results/external/{name}/class_auroc.tsv",
        operating_points="results/external/{name}/operating_points.tsv",
        predictions="results/external/{name}/predictions.tsv",
    log:
        "results/logs/score_external/{name}.log",
    wildcard_constraints:
        name=EXTERNAL_NAMES,
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    params:
        entry=lambda wildcards: EXTERNAL[wildcards.name],
        out_dir=lambda wildcards: f"results/external/{wildcards.name}",
        report=config["report"],
    script:
        "../scripts/score_external.py"


if EXTERNAL:

    rule tabulate_external:
        input:
            scored=[f"results/external/{name}/predictions.tsv" for name in EXTERNAL],
            runs="results/tables/runs.tsv",
            predictions=[f"{d}/predictions.tsv" for d in run_dirs()],
        output:
            multiext("results/tables/external", *TABLE_FORMATS),
            table=report(
                "results/tables/external.html",
                caption="../report/external.rst",
                category="External predictions",
                labels={"table": "external models beside the study's best"},
            ),
        log:
            "results/logs/tabulate_external.log",
        conda:
            "../envs/samderm.yaml"
        threads: 1
        resources:
            mem_mb=per_attempt(4000),
            runtime=per_attempt(30),
        params:
            names=list(EXTERNAL),
            report=config["report"],
            exclude_experiments=held_out_experiments(),
        script:
            "../scripts/tabulate_external.py"
