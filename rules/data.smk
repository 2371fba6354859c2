# Data: the demo study or downloads, the manifest, splits and balancing views (samderm.data).
DATA_CFG = config["data"]
ISIC_ROOT = DATA_CFG["isic2019"]["root"]
DOWNLOADS = DATA_CFG["download"]
PUBLIC = DATA_CFG["public"]
# downloads (here and download_checkpoint) are local rules: they run where snakemake runs, since
# compute nodes often have no internet; data.download.local: false submits them like any job


# optional OOD images for tuning only (all to val; data.ood_dir then is all test)
OOD_TUNE_INPUT = (
    {"ood_tune": DATA_CFG["ood_tune_dir"]} if DATA_CFG.get("ood_tune_dir") else {}
)


if DATA_CFG["source"] == "demo":

    rule make_demo:
        output:
            **demo_clinical_output(),
            ground_truth="results/data/isic2019/ISIC_2019_Training_GroundTruth.csv",
            metadata="results/data/isic2019/ISIC_2019_Training_Metadata.csv",
            images=directory("results/data/isic2019/ISIC_2019_Training_Input"),
            masks=directory("results/data/isic2019/masks"),
            not_skin=directory("results/data/not_skin"),
            ood=directory("results/data/ood"),
            unlabeled=directory("results/data/unlabeled"),
        log:
            "results/logs/make_demo.log",
        conda:
            "../envs/samderm.yaml"
        threads: 1
        resources:
            mem_mb=per_attempt(1000),
            runtime=per_attempt(10),
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
        localrule: DOWNLOADS["local"]
        conda:
            "../envs/samderm.yaml"
        threads: 1
        resources:
            mem_mb=per_attempt(1000),
            runtime=per_attempt(240),
        params:
            dataset="isic2019",
            download=DOWNLOADS["isic2019"],
            out_dir=ISIC_ROOT,
            partial_dir=f"{DOWNLOADS['dir']}/.partial/isic2019",
        script:
            "../scripts/download_data.py"


# the unlabeled pool of semi-supervised experiments: the ISIC 2019 test images, into data.unlabeled_dir
if download_wanted("isic2019_test"):

    rule download_isic2019_test:
        output:
            folder=directory(DATA_CFG["unlabeled_dir"]),
        log:
            "results/logs/download_isic2019_test.log",
        localrule: DOWNLOADS["local"]
        conda:
            "../envs/samderm.yaml"
        threads: 1
        resources:
            mem_mb=per_attempt(1000),
            runtime=per_attempt(120),
        params:
            dataset="isic2019_test",
            download=DOWNLOADS["isic2019_test"],
            out_dir=DATA_CFG["unlabeled_dir"],
            partial_dir=f"{DOWNLOADS['dir']}/.partial/isic2019_test",
        script:
            "../scripts/download_data.py"


if download_wanted("places365"):

    rule download_places365:
        output:
            folder=directory(f"{DOWNLOADS['dir']}/places365"),
        log:
            "results/logs/download_places365.log",
        localrule: DOWNLOADS["local"]
        conda:
            "../envs/samderm.yaml"
        threads: 1
        resources:
            mem_mb=per_attempt(1000),
            runtime=per_attempt(120),
        params:
            dataset="places365",
            download=DOWNLOADS["places365"],
            out_dir=f"{DOWNLOADS['dir']}/places365",
            partial_dir=f"{DOWNLOADS['dir']}/.partial/places365",
        script:
            "../scripts/download_data.py"


if download_wanted("dtd"):

    rule download_dtd:
        output:
            folder=directory(f"{DOWNLOADS['dir']}/dtd"),
        log:
            "results/logs/download_dtd.log",
        localrule: DOWNLOADS["local"]
        conda:
            "../envs/samderm.yaml"
        threads: 1
        resources:
            mem_mb=per_attempt(1000),
            runtime=per_attempt(60),
        params:
            dataset="dtd",
            download=DOWNLOADS["dtd"],
            out_dir=f"{DOWNLOADS['dir']}/dtd",
            partial_dir=f"{DOWNLOADS['dir']}/.partial/dtd",
        script:
            "../scripts/download_data.py"


# not-skin and OOD images drawn from the public sets: {folder}/{category}/*.jpg
if DATA_CFG["source"] == "isic2019" and PUBLIC["not_skin"]:

    rule draw_not_skin_images:
        input:
            **public_set_dirs("not_skin"),
        output:
            folder=directory(DATA_CFG["not_skin_dir"]),
        log:
            "results/logs/draw_not_skin_images.log",
        localrule: True
        conda:
            "../envs/samderm.yaml"
        threads: 1
        resources:
            mem_mb=per_attempt(1000),
            runtime=per_attempt(10),
        params:
            sets=PUBLIC["not_skin"],
            other_sets=PUBLIC["ood"],
            seed=PUBLIC["seed"],
            key="data.public.not_skin",
        script:
            "../scripts/draw_public_images.py"


if DATA_CFG["source"] == "isic2019" and PUBLIC["ood"]:

    rule draw_ood_images:
        input:
            **public_set_dirs("ood"),
        output:
            folder=directory(DATA_CFG["ood_dir"]),
        log:
            "results/logs/draw_ood_images.log",
        localrule: True
        conda:
            "../envs/samderm.yaml"
        threads: 1
        resources:
            mem_mb=per_attempt(1000),
            runtime=per_attempt(10),
        params:
            sets=PUBLIC["ood"],
            other_sets=PUBLIC["not_skin"],
            seed=PUBLIC["seed"],
            key="data.public.ood",
        script:
            "../scripts/draw_public_images.py"


# each external source's official files (data.download.<adapter>) into its root; the labelled ISIC 2019
# test set needs its ground truth beside the images (the unlabeled pool needs only the images)
for _name, _source in downloaded_sources().items():

    rule:
        name:
            f"download_source_{_name}"
        output:
            folder=directory(_source["root"]),
        log:
            f"results/logs/download_source_{_name}.log",
        localrule: DOWNLOADS["local"]
        conda:
            "../envs/samderm.yaml"
        threads: 1
        resources:
            mem_mb=per_attempt(1000),
            runtime=per_attempt(240),
        params:
            dataset=_source["adapter"],
            download=DOWNLOADS[_source["adapter"]],
            out_dir=_source["root"],
            partial_dir=f"{DOWNLOADS['dir']}/.partial/{_name}",
            expected=EXPECTED_LABELLED.get(_source["adapter"]),
        script:
            "../scripts/download_data.py"


# one external test source (data.sources.<name>) read by its adapter: every image, every metadata column
rule read_source:
    input:
        unpack(source_inputs),
    output:
        table="results/data/sources/{source}.tsv",
    log:
        "results/logs/read_source/{source}.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
    params:
        name=lambda wildcards: wildcards.source,
        source=lambda wildcards: config["data"]["sources"][wildcards.source],
    script:
        "../scripts/read_source.py"


rule build_manifest:
    input:
        **data_inputs(),
        **OOD_TUNE_INPUT,
        **external_source_tables(),
    output:
        **external_source_outputs(),
        manifest="results/data/manifest.tsv",
        rejected="results/data/rejected.tsv",
        counts="results/data/counts.tsv",
        near_duplicates="results/data/near_duplicates.tsv",
    log:
        "results/logs/build_manifest.log",
    conda:
        "../envs/samderm.yaml"
    threads: 4
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(60),
    params:
        **external_source_params(),
        labels=config["labels"],
        bad_images=DATA_CFG["bad_images"],
        unk=DATA_CFG["unk"],
        near_duplicate_bits=DATA_CFG["near_duplicate_bits"],
    script:
        "../scripts/build_manifest.py"


# the skin tone (individual typology angle) of every lesion and external image, once, for the subgroup tables
rule compute_ita:
    input:
        manifest="results/data/manifest.tsv",
    output:
        table="results/data/ita.tsv",
        figure=report(
            "results/figures/ita.png",
            caption="../report/ita.rst",
            category="Subgroups",
            labels={"figure": "skin tone (ITA) per source and class"},
        ),
        svg="results/figures/ita.svg",
    log:
        "results/logs/compute_ita.log",
    conda:
        "../envs/samderm.yaml"
    threads: 2
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(30),
    params:
        ring=DATA_CFG["ita"]["ring"],
        min_skin_share=DATA_CFG["ita"]["min_skin_share"],
    script:
        "../scripts/compute_ita.py"


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
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
    params:
        # only a study with ood.shift has it: other studies' splits keep their params
        **({"shift": config["ood"]["shift"]} if config["ood"].get("shift") else {}),
        splits=config["splits"],
        ood_levels=DATA_CFG["ood_levels"],
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
    # the augmented views feed the encoder passes, the critical path: they start before ready heads
    priority: 1
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        # imports torchvision (augmentation parameters): its SLURM job step, Snakemake included,
        # peaked at 0.86 GB (sstat) and at 1.09 GB in a CI run, where 1 GB got it killed
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        balancing=lambda wildcards: config["balancing"][wildcards.balancing],
    script:
        "../scripts/make_views.py"
