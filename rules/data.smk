# Data: the demo study or downloads, the manifest, splits and balancing views (samderm.data).
DATA_CFG = config["data"]
ISIC_ROOT = DATA_CFG["isic2019"]["root"]
# optional OOD images for tuning only (all to val; data.ood_dir then is all test)
OOD_TUNE_INPUT = (
    {"ood_tune": DATA_CFG["ood_tune_dir"]} if DATA_CFG.get("ood_tune_dir") else {}
)


if DATA_CFG["source"] == "demo":

    rule make_demo:
        output:
            ground_truth="results/data/isic2019/ISIC_2019_Training_GroundTruth.csv",
            metadata="results/data/isic2019/ISIC_2019_Training_Metadata.csv",
            images=directory("results/data/isic2019/ISIC_2019_Training_Input"),
            masks=directory("results/data/isic2019/masks"),
            not_skin=directory("results/data/not_skin"),
            ood=directory("results/data/ood"),
        log:
            "results/logs/make_demo.log",
        conda:
            "../envs/samderm.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            demo=DATA_CFG["demo"],
        script:
            "../scripts/make_demo.py"


if download_wanted("isic2019"):

    rule download_isic2019:
        output:
            ground_truth=f"{ISIC_ROOT}/ISIC_2019_Training_GroundTruth.csv",
            metadata=f"{ISIC_ROOT}/ISIC_2019_Training_Metadata.csv",
            images=directory(f"{ISIC_ROOT}/ISIC_2019_Training_Input"),
        log:
            "results/logs/download_isic2019.log",
        conda:
            "../envs/samderm.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=240,
        params:
            dataset="isic2019",
            download=DATA_CFG["download"]["isic2019"],
            out_dir=DATA_CFG["isic2019"]["root"],
        script:
            "../scripts/download_data.py"


if download_wanted("places365"):

    rule download_places365:
        output:
            folder=directory(DATA_CFG["ood_dir"]),
        log:
            "results/logs/download_places365.log",
        conda:
            "../envs/samderm.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=120,
        params:
            dataset="places365",
            download=DATA_CFG["download"]["places365"],
            out_dir=DATA_CFG["ood_dir"],
        script:
            "../scripts/download_data.py"


rule build_manifest:
    input:
        **data_inputs(),
        **OOD_TUNE_INPUT,
    output:
        manifest="results/data/manifest.tsv",
        rejected="results/data/rejected.tsv",
        counts="results/data/counts.tsv",
    log:
        "results/logs/build_manifest.log",
    conda:
        "../envs/samderm.yaml"
    threads: 4
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        labels=config["labels"],
        bad_images=DATA_CFG["bad_images"],
        unk=DATA_CFG["unk"],
    script:
        "../scripts/build_manifest.py"


rule make_splits:
    input:
        manifest="results/data/manifest.tsv",
    output:
        splits="results/data/splits.tsv",
    log:
        "results/logs/make_splits.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        splits=config["splits"],
    script:
        "../scripts/make_splits.py"


rule make_views:
    input:
        manifest="results/data/manifest.tsv",
        splits="results/data/splits.tsv",
    output:
        views="results/data/views/{balancing}.tsv",
        balance="results/data/balance/{balancing}.tsv",
    log:
        "results/logs/make_views/{balancing}.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        balancing=lambda wildcards: config["balancing"][wildcards.balancing],
    script:
        "../scripts/make_views.py"
