# Config validation, the experiment matrix, and the input functions every rules file uses.
import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# samderm importable without installing, here and in every job's script (also in conda envs)
sys.path.insert(0, workflow.basedir)
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(None, [workflow.basedir, os.getenv("PYTHONPATH")])
    )
)

from samderm.config import (
    ConfigError,
    check_config,
    download_rule,
    load_yaml_strict,
    public_datasets,
)
from samderm.data.download import EXPECTED_LABELLED
from samderm.slurm_arrays import split_slurm_arrays_by_request
from samderm.data.sources.read import (
    OFFICIAL as OFFICIAL_ADAPTERS,
    configured_sources,
    source_files,
)
from samderm.features.spec import crop_segmenter, encoder_terms, extraction_entry
from samderm.matrix import (
    PROBE_TYPES,
    TRAINED_TYPES,
    Run,
    expand_matrix,
    feature_stores,
    is_probe,
    ood_runs,
)
from samderm.features.store import MASK_FILES, STORE_FILES
from samderm.report.after_run import refresh_report

# refuse duplicate keys (e.g. an experiment named twice): YAML would keep the last silently
for _configfile in workflow.configfiles:
    load_yaml_strict(_configfile)
validate(config, schema="../config/schema.yaml")
try:
    # data paths are relative to the working directory
    check_config(config, root=Path.cwd())
except ConfigError as error:
    raise WorkflowError(str(error)) from None


FSET = "{encoder}-{pooling}-r{res}"
RUN = "{exp}/{loss}/{arch}/{crop}/{encoder}-{pooling}-r{res}/seed{seed}"
RUNS = expand_matrix(config)
NAME = "[A-Za-z0-9_-]+"


def _arch_names(*types):
    names = [n for n, a in config["architectures"].items() if a["type"] in types]
    return "|".join(names) or "(?!)"  # (?!) matches nothing


TRAINED_ARCHS = _arch_names(*TRAINED_TYPES)
ENSEMBLE_ARCHS = _arch_names("ensemble")
PROBE_ARCHS = _arch_names(*PROBE_TYPES)


wildcard_constraints:
    encoder="|".join(re.escape(name) for name in config["encoders"]),
    pooling="mean|max|meanmax",
    res="[0-9]+",
    crop="full|lesion",
    viewset="images|aug-[A-Za-z0-9_-]+",
    exp=NAME,
    loss=NAME,
    arch=NAME,
    balancing=NAME,
    seed="[0-9]+",


# the SLURM executor gives every task of an array the first job's request: one array per request
split_slurm_arrays_by_request()


def per_attempt(amount):
    """A resource request that grows with each retry (profiles/slurm: `retries`), as a job killed
    for its memory or time limit needs more of it, not the same again."""
    return lambda wildcards, attempt: amount * attempt


def balancing_of(exp):
    return config["experiments"][exp]["balancing"]


def _run_of(wildcards):
    return Run(
        wildcards.exp,
        wildcards.loss,
        wildcards.arch,
        wildcards.crop,
        wildcards.encoder,
        wildcards.pooling,
        int(wildcards.res),
        int(wildcards.seed),
    )


def held_out_classes_of(wildcards):
    """Lesion classes the experiment trains without (scored as near OOD)."""
    return list(config["experiments"][wildcards.exp].get("held_out_classes", []))


def held_out_experiments():
    """Experiments of the matrix that train without some lesion classes (not comparable on lesion)."""
    return [
        e
        for e in config["matrix"]["experiments"]
        if config["experiments"][e].get("held_out_classes")
    ]


def views_for_run(wildcards):
    return f"results/data/views/{balancing_of(wildcards.exp)}.tsv"


def feature_stores_for_run(wildcards):
    return [f"results/features/{d}" for d in feature_stores(config, _run_of(wildcards))]


def store_files(dirs):
    return [f"{d}/{f}" for d in dirs for f in STORE_FILES]


def run_params(wildcards):
    run = _run_of(wildcards)
    return {
        "experiment": config["experiments"][run.experiment],
        "loss": config["losses"].get(run.loss, {}),  # probe runs: loss 'none'
        "architecture": config["architectures"][run.architecture],
        "labels": {**config["labels"], "unk": config["data"]["unk"]},
        "training": config["training"],
        "isic_submission": config["isic_submission"],
        "run": run.as_dict(),
        # evaluation.external: the heads also predict these sources (only then: other studies' runs keep their params)
        **({"external": EVALUATED_SOURCES} if EVALUATED_SOURCES else {}),
        # the tuned linear probe chooses its C by it (only probes get it: MLP jobs keep their params)
        **(
            {"selection_metric": config["report"]["selection_metric"]}
            if is_probe(config, run.architecture)
            else {}
        ),
        # semi-supervised runs gate their pool like the OOD gate: at ood.tpr, and drop its near-duplicates
        # of val/test images by the splits' pHash rule (only they depend on either)
        **(
            {
                "ood": {"tpr": config["ood"]["tpr"]},
                "data": {"near_duplicate_bits": config["data"]["near_duplicate_bits"]},
            }
            if config["experiments"][run.experiment].get("semi_supervised")
            else {}
        ),
    }


def run_dirs(archs=None):
    return [
        f"results/runs/{r.path}"
        for r in RUNS
        if archs is None or r.architecture in archs
    ]


def ood_dirs():
    return [f"results/ood/{r.path}" for r in ood_runs(config, RUNS)]


def feature_store_dirs():
    return sorted(
        {f"results/features/{d}" for r in RUNS for d in feature_stores(config, r)}
    )


def extraction_logs():
    """The extract_features log of every feature store (throughput of each encoder)."""
    return [
        d.replace("results/features/", "results/logs/extract_features/", 1) + ".log"
        for d in feature_store_dirs()
    ]


def data_inputs():
    data = config["data"]
    if data["source"] == "demo":
        root = "results/data/isic2019"
        return {
            "ground_truth": f"{root}/ISIC_2019_Training_GroundTruth.csv",
            "metadata": f"{root}/ISIC_2019_Training_Metadata.csv",
            "images": f"{root}/ISIC_2019_Training_Input",
            "masks": f"{root}/masks",
            "not_skin": "results/data/not_skin",
            "ood": "results/data/ood",
            **unlabeled_input(),
        }
    root = data["isic2019"]["root"]
    inputs = {
        "ground_truth": f"{root}/ISIC_2019_Training_GroundTruth.csv",
        "metadata": f"{root}/ISIC_2019_Training_Metadata.csv",
        "images": f"{root}/ISIC_2019_Training_Input",
        "not_skin": data["not_skin_dir"],
        "ood": data["ood_dir"],
    }
    if data["isic2019"]["masks"]:
        inputs["masks"] = data["isic2019"]["masks"]
    return {**inputs, **unlabeled_input()}


def unlabeled_input():
    """The unlabeled folder of semi-supervised experiments, when data.unlabeled_dir is set."""
    folder = config["data"].get("unlabeled_dir")
    return {"unlabeled": folder} if folder else {}


# --- data ---------------------------------------------------------------------------

SOURCES = configured_sources(config["data"])
EVALUATED_SOURCES = (config.get("evaluation") or {}).get("external") or []


def demo_clinical_output():
    """The demo's clinical-photo external source, when data.demo.clinical is set."""
    wanted = bool(config["data"]["demo"].get("clinical"))
    root = "results/data/clinic"
    outputs = {
        "clinical_images": directory(f"{root}/images"),
        "clinical_labels": f"{root}/labels.csv",
    }
    return outputs if wanted else {}


def downloaded_sources():
    """data.sources entries of a published data set whose data.download.<adapter> is configured (enabled)."""
    return {
        name: source
        for name, source in SOURCES.items()
        if source["adapter"] in OFFICIAL_ADAPTERS
        and download_rule(config["data"]["download"], source["adapter"])
    }


def source_inputs(wildcards):
    """The files one external source is read from (its root, or a labelled folder's images and labels)."""
    return source_files(wildcards.source, SOURCES[wildcards.source])


# external sources join the manifest only in studies that have them: other studies' manifests keep their jobs
def external_source_tables():
    return (
        {"sources": [f"results/data/sources/{name}.tsv" for name in SOURCES]}
        if SOURCES
        else {}
    )


def external_source_outputs():
    return (
        {"cross_source_overlap": "results/data/cross_source_overlap.tsv"}
        if SOURCES
        else {}
    )


def external_source_params():
    return {"sources": SOURCES} if SOURCES else {}


def download_wanted(dataset):
    """A download rule exists only for real data, when enabled, given a source and (public sets) drawn from."""
    data = config["data"]
    item = data["download"][dataset]
    return (
        data["download"]["enabled"]
        and data["source"] == "isic2019"
        and (
            dataset == "isic2019"
            or (dataset == "isic2019_test" and bool(data.get("unlabeled_dir")))
            or dataset in public_datasets(data)
        )
        and bool(item.get("url") or item.get("files"))
    )


def public_set_dirs(use):
    """{data set: its unpacked folder} of the public sets that data.public.<use> draws from."""
    return {
        d: f"{config['data']['download']['dir']}/{d}"
        for d in config["data"]["public"][use]
    }


# --- features -----------------------------------------------------------------------


def encoder_config(encoder):
    # licence and gated are shown, not computed with: editing them reruns no extraction
    return extraction_entry(config["encoders"][encoder])


# the weights' terms, shown beside every result of an encoder
ENCODER_TERMS = {
    name: encoder_terms(name, cfg) for name, cfg in config["encoders"].items()
}


def checkpoint_file(wildcards):
    path = encoder_config(wildcards.encoder).get("checkpoint")
    return (
        [path] if path else []
    )  # null: random weights (or timm's own download), nothing to wait for


# lesion masks: one store per view set, named by what the masks depend on (never the encoder)
SEGMENTER = crop_segmenter(config)
_crop = config["features"]["crop"]
MASK_SET = (
    "files"
    if _crop["mask_source"] == "files"
    else f"{_crop['mask_source']}-{SEGMENTER}-r{_crop['resolution']}"
)


def segmenter_checkpoint(wildcards):
    path = encoder_config(SEGMENTER).get("checkpoint") if MASK_SET != "files" else None
    return [path] if path else []


def mask_store(wildcards):
    """The view set's lesion-mask store (lesion crops only)."""
    if wildcards.crop != "lesion":
        return []
    return [
        f"results/features/masks/{MASK_SET}/{wildcards.viewset}/{f}" for f in MASK_FILES
    ]


def features_params(wildcards):
    # only what changes the numbers: pooling is a wildcard, crop settings matter for lesion crops only
    features = {k: v for k, v in config["features"].items() if k != "pooling"}
    if wildcards.crop != "lesion":
        features.pop("crop", None)
    return features


def features_params_for_masks(wildcards):
    # what the masks depend on: never pooling, dtype, nor the crop box's margin and area limits
    features = config["features"]
    run = ("batch_size", "num_workers", "shard_size", "device")
    return {
        **{k: features[k] for k in run},
        "crop": {k: features["crop"][k] for k in ("mask_source", "resolution")},
    }


def views_table(wildcards):
    if wildcards.viewset == "images":
        return []
    return [f"results/data/views/{wildcards.viewset.removeprefix('aug-')}.tsv"]


# the checkpoint files that a URL can fill; a file given without a URL must already exist
DOWNLOADABLE_CHECKPOINTS = (
    "|".join(
        re.escape(e["checkpoint"])
        for e in config["encoders"].values()
        if e and e.get("url") and e.get("checkpoint")
    )
    or "(?!)"
)


def encoder_of_checkpoint(wildcards):
    return next(
        e
        for e in config["encoders"].values()
        if e and e.get("checkpoint") == wildcards.weights
    )


# --- heads and OOD ------------------------------------------------------------------


def ensemble_member_predictions(wildcards):
    """predictions.tsv of each member architecture of the same experiment, loss, crop, features and seed."""
    members = config["architectures"][wildcards.arch]["members"]
    return expand(
        f"results/runs/{RUN}/predictions.tsv",
        **{**dict(wildcards.items()), "arch": members},
    )


def image_store_files(wildcards):
    """The run's store of original images (OOD detectors fit and score originals only)."""
    w = wildcards
    return store_files(
        [f"results/features/{w.encoder}-{w.pooling}-r{w.res}/{w.crop}/images"]
    )


# --- external predictions (rules/score.smk) -----------------------------------------

EXTERNAL_DEFAULTS = {
    "classes": None,
    "format": "auto",
    "ground_truth": None,
    "class_map": None,
    "groups": "manifest",
    "task": None,
}
EXTERNAL = {
    name: {**EXTERNAL_DEFAULTS, **entry}
    for name, entry in (config.get("external_predictions") or {}).items()
    if entry is not None  # an overlay config removes an entry by nulling it
}
# the configured names only ((?!) matches nothing)
EXTERNAL_NAMES = "|".join(re.escape(n) for n in EXTERNAL) or "(?!)"


def external_inputs(wildcards):
    """The file to score, its ISIC ground truth, class-map file and the manifest, as the entry needs them."""
    entry = EXTERNAL[wildcards.name]
    inputs = {"predictions": entry["path"]}
    if entry["ground_truth"]:
        inputs["ground_truth"] = entry["ground_truth"]
    if isinstance(entry["class_map"], str):
        inputs["class_map"] = entry["class_map"]
    if entry["groups"] == "manifest":
        inputs["manifest"] = "results/data/manifest.tsv"
    return inputs


# --- the model bundle (rules/predict.smk) -------------------------------------------


def bundle_inputs(wildcards):
    """What the bundle reads: the tables it selects on, trained heads, OOD tuning and image stores."""
    trained = TRAINED_ARCHS.split("|")
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


def predict_images_input(wildcards):
    """The predict rule's images: predict.images, which only the command line sets."""
    images = config["predict"]["images"]
    if not images:
        raise WorkflowError(
            "snakemake predict needs images: --config predict='{images: DIR, name: NAME}'"
        )
    return images
