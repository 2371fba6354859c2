# The study's chosen pipeline as a portable bundle, and that bundle applied to new images.


def bundle_inputs(wildcards):
    """What the bundle reads: the tables it selects on, trained heads, OOD tuning and image stores."""
    trained = [
        n
        for n, a in config["architectures"].items()
        if a["type"] in ("parallel", "multihead")
    ]
    stores = sorted(
        {
            f"results/features/{r.feature_set}/{r.crop}/images"
            for r in RUNS
            if r.architecture in trained
        }
    )
    return {
        "models": [f"{d}/model.pt" for d in run_dirs(trained)],
        "tuning": [f"{d}/tuning.tsv" for d in ood_dirs()],
        "gate": [f"{d}/gate.tsv" for d in ood_dirs()],
        "stores": store_files(stores),
        "views": [f"results/data/views/{b}.tsv" for b in REPORT_BALANCINGS],
    }


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
        results="results",
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
