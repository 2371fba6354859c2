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
        mem_mb=2000,
        runtime=10,
    params:
        # the study's config without predict.images/name/masks/device: predicting never rebuilds the bundle
        config={
            **{k: v for k, v in config.items() if k != "predict"},
            "predict": {k: config["predict"].get(k) for k in ("models", "gate")},
        },
    script:
        "../scripts/bundle_models.py"


PREDICT = config["predict"]

if PREDICT["images"]:

    rule predict:
        input:
            bundle="results/models/bundle.json",
            images=PREDICT["images"],
        output:
            predictions=f"results/predict/{PREDICT['name']}/predictions.tsv",
            bad=f"results/predict/{PREDICT['name']}/bad_images.tsv",
            counts=f"results/predict/{PREDICT['name']}/counts.json",
            page=f"results/predict/{PREDICT['name']}/index.html",
        log:
            f"results/logs/predict/{PREDICT['name']}.log",
        conda:
            "../envs/samderm.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
        params:
            predict=PREDICT,
        script:
            "../scripts/predict_images.py"
