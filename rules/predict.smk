# The study's chosen pipeline as a portable bundle, and that bundle applied to new images.


rule bundle_models:
    input:
        unpack(bundle_inputs),
        runs="results/tables/runs.tsv",
        calibration="results/tables/calibration_runs.tsv",
        manifest="results/data/manifest.tsv",
    output:
        bundle="results/models/bundle.json",
        gate_fit="results/models/gate_fit.pt",
    log:
        "results/logs/bundle_models.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        # the study's config without predict.images/name/masks/device: predicting never rebuilds the bundle
        config={
            **{k: v for k, v in config.items() if k != "predict"},
            "predict": {k: config["predict"].get(k) for k in ("models", "gate")},
        },
    script:
        "../scripts/bundle_models.py"


PREDICT_DIR = f"results/predict/{config['predict']['name']}"


rule predict:
    input:
        bundle="results/models/bundle.json",
        images=predict_images_input,
    output:
        predictions=f"{PREDICT_DIR}/predictions.tsv",
        bad=f"{PREDICT_DIR}/bad_images.tsv",
        counts=f"{PREDICT_DIR}/counts.json",
        page=f"{PREDICT_DIR}/index.html",
    log:
        f"results/logs/predict/{config['predict']['name']}.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
    params:
        predict=config["predict"],
    script:
        "../scripts/predict_images.py"
