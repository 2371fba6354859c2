import dataclasses

from samderm.matrix import supervised_twin

# What the report rules share (rules/tables.smk, rules/statistics.smk, rules/figures.smk) and every file the report shows:
# summary tables (csv/md/tex/html), figures (png/svg); `snakemake --report` shows the .html and .png.
REPORT_EXPERIMENTS = list(dict.fromkeys(r.experiment for r in RUNS))
REPORT_BALANCINGS = list(dict.fromkeys(balancing_of(e) for e in REPORT_EXPERIMENTS))
OOD_EXPERIMENTS = list(dict.fromkeys(r.experiment for r in ood_runs(config, RUNS)))
CROP_FEATURE_SETS = list(
    dict.fromkeys(r.feature_set for r in RUNS if r.crop == "lesion")
)
TABLE_FORMATS = [".csv", ".md", ".tex"]


BALANCE_FILES = [f"results/data/balance/{b}.tsv" for b in REPORT_BALANCINGS]


REPORT_TARGETS = [
    "results/tables/runs.tsv",
    "results/exchange",
    "results/tables/ood_runs.tsv",
    "results/tables/calibration_runs.tsv",
    "results/tables/intervals.tsv",
    "results/tables/ood_intervals.tsv",
    *[
        f"results/tables/{name}{ext}"
        for name in (
            "best_models",
            "architectures",
            "losses",
            "configurations",
            "probes",
            "data_sources",
            "class_counts",
            "balance",
            "ood_detectors",
            "ood_gate",
            "ood_end_to_end",
            "ood_class_rejection",
            "feature_sets",
            "encoders",
            "calibration",
            "claims",
            "operating_points",
            "class_auroc",
            "label_efficiency",
        )
        for ext in TABLE_FORMATS + [".html"]
    ],
    *expand(
        "results/figures/{name}.{ext}",
        name=[
            "class_histogram",
            "balance",
            "rulegraph",
            "reliability",
            "encoders",
            "ood_risk_coverage",
            "ood_accepted",
            "ood_levels",
            "roc_operating_points",
            "label_efficiency",
        ],
        ext=["png", "svg"],
    ),
    *expand(
        "results/figures/lesion_f1_by_loss_{exp}.{ext}",
        exp=REPORT_EXPERIMENTS,
        ext=["png", "svg"],
    ),
    *expand(
        "results/figures/confusion_lesion_{exp}.{ext}",
        exp=REPORT_EXPERIMENTS,
        ext=["png", "svg"],
    ),
    *expand(
        "results/figures/ood_curves_{exp}.{ext}",
        exp=OOD_EXPERIMENTS,
        ext=["png", "svg"],
    ),
    *expand(
        "results/figures/crop_overlays_{fset}.{ext}",
        fset=CROP_FEATURE_SETS,
        ext=["png", "svg"],
    ),
]
# external_predictions: other models' predictions scored beside the study's best
if EXTERNAL:
    REPORT_TARGETS += [
        f"results/tables/external{ext}" for ext in TABLE_FORMATS + [".html"]
    ]

# subgroups: each chosen model per subgroup, the gate per subgroup, the skin tone (ITA) of every image
REPORT_TARGETS += [
    *[
        f"results/tables/{name}{ext}"
        for name in ("subgroups", "subgroups_gate")
        for ext in TABLE_FORMATS + [".html"]
    ],
    "results/tables/subgroups_runs.tsv",
    *expand(
        "results/figures/{name}.{ext}",
        name=["subgroups_lesion", "subgroups_malignancy", "ita"],
        ext=["png", "svg"],
    ),
]

# evaluation.external: every head on the external test sources beside the internal test split
if EVALUATED_SOURCES:
    REPORT_TARGETS += [
        *[f"results/tables/external_sources{ext}" for ext in TABLE_FORMATS + [".html"]],
        "results/tables/external_sources_runs.tsv",
        "results/tables/external_sources_operating_points.tsv",
        "results/figures/external_sources.png",
    ]

# semi-supervised experiments (experiments.<name>.semi_supervised): their pool and outcome table
SEMI_SUPERVISED_EXPERIMENTS = [
    e for e in REPORT_EXPERIMENTS if config["experiments"][e].get("semi_supervised")
]
if SEMI_SUPERVISED_EXPERIMENTS:
    REPORT_TARGETS += [
        f"results/tables/semi_supervised{ext}" for ext in TABLE_FORMATS + [".html"]
    ]

SEMI_SUPERVISED_TWINS = {
    e: supervised_twin(config["experiments"], e, REPORT_EXPERIMENTS)
    for e in SEMI_SUPERVISED_EXPERIMENTS
}
# trained semi-supervised runs (ensembles average their members and write no pool table)
SEMI_SUPERVISED_RUNS = [
    r
    for r in RUNS
    if r.experiment in SEMI_SUPERVISED_EXPERIMENTS
    and config["architectures"][r.architecture]["type"] != "ensemble"
]


def semi_supervised_predictions():
    """predictions.tsv of the semi-supervised runs and of their supervised twins (when in the matrix)."""
    out = []
    for r in SEMI_SUPERVISED_RUNS:
        twin = SEMI_SUPERVISED_TWINS[r.experiment]
        twin_run = dataclasses.replace(r, experiment=twin) if twin else None
        out += [f"results/runs/{r.path}/predictions.tsv"]
        out += (
            [f"results/runs/{twin_run.path}/predictions.tsv"]
            if twin_run in RUNS
            else []
        )
    return out
