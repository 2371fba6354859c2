# Lesion masks: every view segmented once per view set, shared by every encoder's lesion crops.
rule segment_lesions:
    input:
        manifest="results/data/manifest.tsv",
        views=views_table,
        weights=segmenter_checkpoint,
    output:
        masks=f"results/features/masks/{MASK_SET}/{{viewset}}/masks.tsv",
        settings=f"results/features/masks/{MASK_SET}/{{viewset}}/settings.json",
    log:
        f"results/logs/segment_lesions/{MASK_SET}/{{viewset}}.log",
    # the encoder passes are the critical path: they start before heads whose features are ready
    priority: 1
    conda:
        "../envs/samderm.yaml"
    threads: 4
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(120),
    params:
        features=features_params_for_masks,
        segmenter=SEGMENTER,
        encoder=lambda wildcards: encoder_config(SEGMENTER) if SEGMENTER else {},
    script:
        "../scripts/segment_lesions.py"


# Feature extraction: one encoder pass per image view and feature set (the GPU step).
rule extract_features:
    input:
        manifest="results/data/manifest.tsv",
        views=views_table,
        weights=checkpoint_file,
        masks=mask_store,
    output:
        features=f"results/features/{FSET}/{{crop}}/{{viewset}}/features.npy",
        index=f"results/features/{FSET}/{{crop}}/{{viewset}}/index.tsv",
        settings=f"results/features/{FSET}/{{crop}}/{{viewset}}/settings.json",
        fallbacks=f"results/features/{FSET}/{{crop}}/{{viewset}}/crop_fallbacks.tsv",
        overlays=directory(f"results/features/{FSET}/{{crop}}/{{viewset}}/overlays"),
    log:
        f"results/logs/extract_features/{FSET}/{{crop}}/{{viewset}}.log",
    # the encoder passes are the critical path: they start before heads whose features are ready
    priority: 1
    conda:
        "../envs/samderm.yaml"
    threads: 4
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(120),
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
    localrule: DOWNLOADS["local"]
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(60),
    params:
        encoder=encoder_of_checkpoint,
    script:
        "../scripts/download_checkpoint.py"
