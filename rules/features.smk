# Feature extraction: one SAM2 encoder pass per image view and feature set (the GPU step).
rule extract_features:
    input:
        manifest="results/data/manifest.tsv",
        views=views_table,
        weights=checkpoint_file,
    output:
        features=f"results/features/{FSET}/{{crop}}/{{viewset}}/features.npy",
        index=f"results/features/{FSET}/{{crop}}/{{viewset}}/index.tsv",
        settings=f"results/features/{FSET}/{{crop}}/{{viewset}}/settings.json",
        fallbacks=f"results/features/{FSET}/{{crop}}/{{viewset}}/crop_fallbacks.tsv",
        overlays=directory(f"results/features/{FSET}/{{crop}}/{{viewset}}/overlays"),
    log:
        f"results/logs/extract_features/{FSET}/{{crop}}/{{viewset}}.log",
    conda:
        "../envs/samderm.yaml"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        features=features_params,
        encoder=lambda wildcards: encoder_config(wildcards.encoder),
    script:
        "../scripts/extract_features.py"


rule download_checkpoint:
    output:
        "{weights}",
    log:
        "results/logs/download_checkpoint/{weights}.log",
    wildcard_constraints:
        weights=DOWNLOADABLE_CHECKPOINTS,
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        encoder=encoder_of_checkpoint,
    script:
        "../scripts/download_checkpoint.py"
