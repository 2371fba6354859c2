# Config validation, the experiment matrix, and the input functions every rules file uses.
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# samderm importable without installing, here and in every job's script (also in conda envs)
sys.path.insert(0, workflow.basedir)
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [workflow.basedir, os.environ.get("PYTHONPATH")])
)

from samderm.config import ConfigError, check_config, load_yaml_strict
from samderm.matrix import (
    Run,
    balancing_augments,
    expand_matrix,
    feature_set_id,
    feature_stores,
)

for _configfile in workflow.configfiles:
    load_yaml_strict(
        _configfile
    )  # refuses duplicate keys (e.g. an experiment named twice)
validate(config, schema="../config/schema.yaml")
try:
    check_config(
        config, root=Path.cwd()
    )  # data paths are relative to the working directory
except ConfigError as error:
    raise WorkflowError(str(error)) from None


FSET = "{encoder}-{pooling}-r{res}"
RUN = "{exp}/{loss}/{arch}/{crop}/" + FSET + "/seed{seed}"
RUNS = expand_matrix(config)
NAME = "[A-Za-z0-9_-]+"


def _arch_names(*types):
    names = [n for n, a in config["architectures"].items() if a["type"] in types]
    return "|".join(names) or "(?!)"  # (?!) matches nothing


TRAINED_ARCHS = _arch_names("parallel", "multihead")
ENSEMBLE_ARCHS = _arch_names("ensemble")


wildcard_constraints:
    encoder="tiny|small|base_plus|large",
    pooling="mean|max|meanmax",
    res="[0-9]+",
    crop="full|lesion",
    viewset="images|aug-[A-Za-z0-9_-]+",
    exp=NAME,
    loss=NAME,
    arch=NAME,
    balancing=NAME,
    seed="[0-9]+",


def lesion_classes():
    extra = ["UNK"] if config["data"]["unk"] == "keep" else []
    return list(config["labels"]["lesion_classes"]) + extra


def balancing_of(exp):
    return config["experiments"][exp]["balancing"]


def augments(balancing):
    return balancing_augments(config, balancing)


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


def views_for_run(wildcards):
    return f"results/data/views/{balancing_of(wildcards.exp)}.tsv"


def feature_stores_for_run(wildcards):
    return [f"results/features/{d}" for d in feature_stores(config, _run_of(wildcards))]


def store_files(dirs):
    return [
        f"{d}/{f}" for d in dirs for f in ("features.npy", "index.tsv", "settings.json")
    ]


def run_params(wildcards):
    run = _run_of(wildcards)
    return {
        "experiment": config["experiments"][run.experiment],
        "loss": config["losses"][run.loss],
        "architecture": config["architectures"][run.architecture],
        "labels": {**config["labels"], "unk": config["data"]["unk"]},
        "training": config["training"],
        "run": run.as_dict(),
    }


def run_dirs(archs=None):
    return [
        f"results/runs/{r.path}"
        for r in RUNS
        if archs is None or r.architecture in archs
    ]


def ood_dirs():
    return [
        f"results/ood/{r.path}"
        for r in RUNS
        if r.architecture in config["ood"]["architectures"]
    ]


def feature_store_dirs():
    return sorted(
        {f"results/features/{d}" for r in RUNS for d in feature_stores(config, r)}
    )


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
    return inputs
