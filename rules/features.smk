# Feature extraction: one SAM2 encoder pass per image view and feature set (the GPU step).
import re


def _encoder_config(encoder):
    return config["encoders"][encoder]


def _checkpoint_file(wildcards):
    path = _encoder_config(wildcards.encoder)["checkpoint"]
    return [path] if path else []  # null: random weights, nothing to wait for


def _features_params(wildcards):
    # only what changes the numbers: pooling is a wildcard, crop settings matter for lesion crops only
    features = {k: v for k, v in config["features"].items() if k != "pooling"}
    if wildcards.crop != "lesion":
        features.pop("crop", None)
    return features


def _views_table(wildcards):
    if wildcards.viewset == "images":
        return []
    return [f"results/data/views/{wildcards.viewset.removeprefix('aug-')}.tsv"]


rule extract_features:
    input:
        manifest="results/data/manifest.tsv",
        views=_views_table,
        weights=_checkpoint_file,
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
        features=_features_params,
        encoder=lambda wildcards: _encoder_config(wildcards.encoder),
    script:
        "../scripts/extract_features.py"


# the checkpoint files that a URL can fill; a file given without a URL must already exist
_DOWNLOADABLE = [
    e["checkpoint"]
    for e in config["encoders"].values()
    if e.get("url") and e.get("checkpoint")
]


rule download_checkpoint:
    output:
        "{weights}",
    log:
        "results/logs/download_checkpoint/{weights}.log",
    wildcard_constraints:
        weights="|".join(map(re.escape, _DOWNLOADABLE)) or "(?!)",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        encoder=lambda wildcards: next(
            e
            for e in config["encoders"].values()
            if e.get("checkpoint") == wildcards.weights
        ),
    script:
        "../scripts/download_checkpoint.py"
