"""The study's summary tables, each built from the tidy results and written in four formats."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Collection, Mapping, Sequence

import pandas as pd

from samderm.data.labels import label_map
from samderm.io import read_json, read_tsv
from samderm.matrix import PROBE_TYPES
from samderm.metrics.bootstrap import INTERVAL_SCOPE
from samderm.ood.metrics import LEVEL_ORDER, METRICS as OOD_METRICS, convention
from samderm.report.aggregate import CONFIG_KEYS, ResultsError, read_ood_runs, read_runs, run_from_dir
from samderm.report.selection import best_on_test, open_set_rows, over_seeds, select_best, tie_rule
from samderm.report.tables import write_table
from samderm.report.intervals import beside_intervals, read_intervals
from samderm.report.ood_intervals import OOD_INTERVAL_COLUMNS, OOD_KEYS

log = logging.getLogger(__name__)

TASK_ORDER = ["skin", "lesion", "malignancy"]
REPORTED = ["accuracy", "macro_f1", "balanced_accuracy"]
INTERVAL_METRICS = REPORTED + ["auroc"]  # test metrics that carry a bootstrap interval
BASELINE = "msp"  # the detector every other one is compared against


def _task_order(table: pd.DataFrame, *keys: str) -> pd.DataFrame:
    """Rows sorted by ``keys``, tasks in their natural order (skin, lesion, malignancy)."""
    rank = {t: i for i, t in enumerate(TASK_ORDER)}
    return table.sort_values(list(keys), key=lambda c: c.map(rank).fillna(len(rank)) if c.name == "task" else c,
                             kind="stable").reset_index(drop=True)


def _chosen_note(metric: str) -> str:
    return (f"Chosen on the validation split by mean {metric} over seeds ({tie_rule(metric)}); reported on the test "
            "split as mean ± sample standard deviation over seeds (no spread with one seed).")


# --- classification -------------------------------------------------------------------------

def classification_tables(tidy: pd.DataFrame, metric: str, intervals: pd.DataFrame | None = None,
                          held_out_experiments: Collection[str] = (),
                          architecture_types: Mapping[str, str] | None = None) -> dict[str, tuple[pd.DataFrame, str, str]]:
    """name -> (table, title, note) for the classification results; with ``intervals`` every test
    metric gets its bootstrap interval (and AUROC is added) beside its mean ± std. The best lesion
    model is never one of ``held_out_experiments`` (fewer classes, fewer test images: not comparable).
    ``architecture_types`` (config name -> type) adds the majority baseline's rows (role 'baseline') to
    the best-model and loss tables and the MLP-vs-probes table; every table gets the collapse flag."""
    if intervals is not None:
        tables = classification_tables(tidy, metric, held_out_experiments=held_out_experiments,
                                       architecture_types=architecture_types)
        return {name: (beside_intervals(table, intervals, [m for m in INTERVAL_METRICS if f"{m}_mean" in table.columns]
                                        + ["auroc"]), title, f"{note} {_interval_note(intervals)}")
                for name, (table, title, note) in tables.items()}
    note = f"{_chosen_note(metric)} {COLLAPSE_NOTE}"
    types = dict(architecture_types or {})
    configurations = over_seeds(tidy, "test", REPORTED).merge(
        over_seeds(tidy, "val", [metric])[CONFIG_KEYS + ["task", f"{metric}_mean"]].rename(
            columns={f"{metric}_mean": f"val_{metric}"}), on=CONFIG_KEYS + ["task"], how="left")
    open_set = open_set_rows(tidy, held_out_experiments)
    if open_set.any():
        log.info("best lesion model: the held-out-class experiments %s are not candidates", sorted(held_out_experiments))
    majority = tidy["architecture"].map(types).eq("majority")
    probes = tidy["architecture"].map(types).isin(PROBE_TYPES)

    def with_baseline(candidates: pd.DataFrame, group_by: list[str], report: list[str]) -> pd.DataFrame:
        table = best_on_test(candidates, metric, group_by, report).assign(role="best")
        baseline = tidy[majority & ~open_set]
        if baseline.empty:
            return table
        rows = best_on_test(baseline, metric, [k for k in group_by if k not in ("loss", "architecture")], report)
        return pd.concat([table, rows.assign(role="baseline")], ignore_index=True)

    tables = {
        "best_models": (_task_order(with_baseline(tidy[~open_set], ["task"], REPORTED), "task"),
                        "Best model per task (and the majority baseline)", note),
        "architectures": (_task_order(best_on_test(tidy, metric, ["experiment", "task", "architecture"], REPORTED),
                                      "experiment", "task", "architecture"),
                          "Architectures per task: MLPs, ensembles and probes (each at its best loss, crop and features)",
                          note),
        "losses": (_task_order(with_baseline(tidy[~probes], ["experiment", "task", "loss"], ["macro_f1", "accuracy"]),
                               "experiment", "task", "loss"),
                   "Macro-F1 and accuracy by loss of the MLP heads (each at its best architecture, crop and features), "
                   "and the majority baseline", note),
        "configurations": (_task_order(configurations, "experiment", "task", *CONFIG_KEYS[1:]),
                           "Every configuration on the test split",
                           f"Mean ± sample standard deviation over seeds; val_{metric} is the selection score. "
                           f"{COLLAPSE_NOTE}"),
    }
    tables["probes"] = (_task_order(head_comparison(tidy[~open_set], metric, types), "task", "encoder", "head"),
                        "MLP vs linear probe vs kNN vs majority per task and encoder",
                        f"{note} {PROBE_NOTE}")
    return {name: (with_collapse(table, tidy), title, text) for name, (table, title, text) in tables.items()}


COLLAPSE_NOTE = ("collapsed: 'yes' when, in any seed, the test predictions put more than report.collapse.max_share into "
                 "one class or the balanced accuracy lies within report.collapse.chance_margin of 1/K.")
PROBE_NOTE = ("head: MLP is the best of the parallel, multihead and ensemble heads; every probe row is its architecture "
              "(see its protocol in the config: published = PanDerm's logistic regression on train + val, its val "
              "predictions from a train-only fit; tuned = scikit-learn with C chosen on val). Probes have no loss (none).")


def head_comparison(tidy: pd.DataFrame, metric: str, types: Mapping[str, str]) -> pd.DataFrame:
    """Per task and encoder, the best MLP (any trained or ensemble architecture) and each probe architecture,
    chosen on val, with their test metrics."""
    kind = tidy["architecture"].map(lambda a: a if types.get(a) in PROBE_TYPES else "MLP")
    parts = [best_on_test(rows, metric, ["task", "encoder"], REPORTED).assign(head=head)
             for head, rows in tidy.groupby(kind, sort=False)]
    table = pd.concat(parts, ignore_index=True)
    return table[["task", "encoder", "head", *(c for c in table.columns if c not in ("task", "encoder", "head"))]]


def with_collapse(table: pd.DataFrame, tidy: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``collapsed`` ('yes' if any seed's test predictions collapsed) after its keys; unchanged
    when runs.tsv has no collapse rows (written before the flag)."""
    flags = tidy[(tidy["split"] == "test") & (tidy["metric"] == "collapsed")]
    if flags.empty:
        return table
    collapsed = flags.groupby(CONFIG_KEYS + ["task"])["value"].max().gt(0).map({True: "yes", False: "no"})
    merged = table.merge(collapsed.rename("collapsed").reset_index(), on=CONFIG_KEYS + ["task"], how="left")
    columns = list(table.columns)
    columns.insert(columns.index("task") + 1, "collapsed")
    return merged[columns]


def _interval_note(intervals: pd.DataFrame) -> str:
    first = intervals.iloc[0]
    return (f"[interval]: the {float(first['level']):.0%} percentile bootstrap interval of the seed mean, "
            f"{first['n_resamples']} resamples of lesion groups of the test images. {INTERVAL_SCOPE}")


def tabulate_classification(runs_tsv: str | Path, out_dir: str | Path, selection_metric: str,
                            intervals_tsv: str | Path | None = None, held_out_experiments: Collection[str] = (),
                            architecture_types: Mapping[str, str] | None = None) -> None:
    tidy = read_runs(runs_tsv)
    intervals = read_intervals(intervals_tsv) if intervals_tsv else None
    for name, (table, title, note) in classification_tables(tidy, selection_metric, intervals, held_out_experiments,
                                                            architecture_types).items():
        write_table(table, Path(out_dir) / name, title, note)
        log.info("table %s: %d rows", name, len(table))


# --- data ------------------------------------------------------------------------------------

def source_counts(counts: pd.DataFrame, manifest: pd.DataFrame, counts_name: str = "counts.tsv") -> pd.DataFrame:
    """counts.tsv, checked: found = used + rejected + excluded, and each number equals the manifest's rows
    (an external source's row, ``external:{name}``, those of its ``dataset``)."""
    counts = counts.astype({c: int for c in ("found", "used", "rejected", "excluded")})
    status_of = {"used": "ok", "rejected": "rejected", "excluded": "excluded"}
    external = manifest["source"] == "external"
    source_key = manifest["source"].where(~external, "external:" + manifest.get("dataset", pd.Series("", index=manifest.index)))
    for row in counts.itertuples():
        if row.found != row.used + row.rejected + row.excluded:
            raise ResultsError(f"{counts_name}: source {row.source!r}: found {row.found} != used {row.used} + "
                               f"rejected {row.rejected} + excluded {row.excluded}")
        for column, status in status_of.items():
            n = int(((source_key == row.source) & (manifest["status"] == status)).sum())
            if n != getattr(row, column):
                raise ResultsError(f"{counts_name}: source {row.source!r} has {column} {getattr(row, column)}, "
                                   f"but the manifest has {n} {status!r} rows")
    return counts


def class_split_counts(manifest: pd.DataFrame, splits: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Images per lesion class (and not_skin / ood source) and split, of the manifest's ok rows; an external
    source is one more column (``external:{name}``), its classes without a mapping the row ``unmapped``."""
    ok = manifest[manifest["status"] == "ok"].merge(splits[["image_id", "split"]], on="image_id", how="left")
    if ok["split"].isna().any():
        raise ResultsError(f"splits.tsv has no split for {int(ok['split'].isna().sum())} ok images, "
                           f"e.g. {ok.loc[ok['split'].isna(), 'image_id'].iloc[0]}")
    labelled = ok["source"].isin(["lesion", "external"]) & (ok["lesion_class"] != "")
    group = ok["lesion_class"].where(labelled, ok["source"].replace({"external": "unmapped"}))
    unknown = set(group[ok["source"].isin(["lesion", "external"])]) - {*classes, "unmapped"}
    if unknown:
        raise ResultsError(f"manifest: lesion classes {sorted(unknown)} are not in labels.lesion_classes {list(classes)}")
    external = [s for s in dict.fromkeys(ok["split"]) if str(s).startswith("external:")]
    table = pd.crosstab(group, ok["split"]).reindex(columns=["train", "val", "test", *external], fill_value=0)
    order = [c for c in [*classes, "not_skin", "ood", "unmapped"] if c in table.index]
    table = table.loc[order]
    table["total"] = table.sum(axis=1)
    return table.rename_axis("class").rename_axis(None, axis=1).reset_index()


def balance_counts(balance_files: Sequence[str | Path]) -> pd.DataFrame:
    """balance/{strategy}.tsv of every strategy, checked: after = before - capped + augmented."""
    frames = []
    for path in balance_files:
        strategy = Path(path).stem
        table = read_tsv(path).astype({c: int for c in ("before", "capped", "augmented", "after")})
        for row in table.itertuples():
            if row.after != row.before - row.capped + row.augmented:
                raise ResultsError(f"{path}: class {row[1]!r}: after {row.after} != before {row.before} - capped "
                                   f"{row.capped} + augmented {row.augmented}")
        frames.append(table.assign(balancing=strategy))
    table = pd.concat(frames, ignore_index=True)
    return table[["balancing", "class", "before", "capped", "augmented", "after"]]


def tabulate_data(manifest: str | Path, counts: str | Path, splits: str | Path, balance: Sequence[str | Path],
                  out_dir: str | Path, labels: Mapping, unk: str) -> None:
    """The data tables; ``labels`` is the config's labels section, ``unk`` its data.unk."""
    classes = label_map(labels, unk).classes
    manifest_table = read_tsv(manifest)
    sources = source_counts(read_tsv(counts), manifest_table, str(counts))
    per_class = class_split_counts(manifest_table, read_tsv(splits), classes)
    balanced = balance_counts(balance)
    write_table(sources, Path(out_dir) / "data_sources", "Images per source",
                "found = used + rejected + excluded; rejected.tsv gives the reason of every rejected or excluded image.")
    write_table(per_class, Path(out_dir) / "class_counts", "Images per class and split",
                f"Usable (ok) images; splits grouped by lesion_id. AK counts as {labels['ak_side']} in the malignancy task.")
    write_table(balanced, Path(out_dir) / "balance", "Lesion train images per class before and after balancing",
                "after = before - capped + augmented; only the train split is balanced.")
    log.info("data tables: %d sources (%d images found), %d classes, %d balancing rows", len(sources),
             sources["found"].sum(), len(per_class), len(balanced))


# --- OOD -------------------------------------------------------------------------------------

def ood_detector_table(ood: pd.DataFrame) -> pd.DataFrame:
    """Per configuration, head, OOD level (far, near, all) and detector: each OOD metric's mean ± std over
    seeds, and AUROC minus the baseline's AUROC of the same configuration, head and level."""
    keys = OOD_KEYS
    stats = ood.groupby(keys + ["metric"], sort=False)["value"].agg(["mean", "std"]).reset_index()
    wide = stats.pivot(index=keys, columns="metric", values=["mean", "std"])
    wide.columns = [f"{metric}_{stat}" for stat, metric in wide.columns]
    metrics = [m for m in OOD_METRICS if f"{m}_mean" in wide.columns]
    wide = wide[[f"{m}_{s}" for m in metrics for s in ("mean", "std")]]
    params = ood.groupby(keys, sort=False)["params"].agg(lambda p: "; ".join(sorted(set(p) - {""})))
    # which OOD images tuned and which tested (samderm.data.splits.ood_protocol)
    protocol = ood.groupby(keys, sort=False)["protocol"].agg(lambda p: "; ".join(sorted(set(p))))
    seeds = ood.groupby(keys, sort=False)["seed"].nunique().rename("n_seeds")
    table = wide.join(params).join(protocol).join(seeds).reset_index()
    baseline_keys = [k for k in keys if k != "detector"]
    baseline = table[table["detector"] == BASELINE].set_index(baseline_keys)["auroc_mean"]
    if baseline.empty:
        log.warning("no %s rows: the AUROC difference to the baseline is left empty", BASELINE)
    table["auroc_vs_msp"] = table["auroc_mean"] - table.set_index(baseline_keys).index.map(baseline).astype(float)
    # far, then near, then pooled: each level's detectors together
    level_rank = {level: i for i, level in enumerate(LEVEL_ORDER)}
    return table.sort_values("ood_level", key=lambda c: c.map(level_rank).fillna(len(level_rank)), kind="stable")


def gate_table(gate_files: Mapping[str, str | Path]) -> pd.DataFrame:
    """Gate outcome per (head, detector, population, gate): the mean share of test images the lesion
    head calls each class (columns) over the seeds of one configuration (``gate_files``: run dir -> gate.tsv)."""
    frames = []
    for path in gate_files.values():
        gate = read_tsv(path).astype({"fraction_without_gate": float, "fraction_with_gate": float})
        frames.append(gate.assign(seed=int(Path(path).parent.name.removeprefix("seed"))))
    gate = pd.concat(frames, ignore_index=True)
    long = gate.melt(id_vars=["seed", "head", "detector", "population", "predicted"],
                     value_vars=["fraction_without_gate", "fraction_with_gate"], var_name="gate", value_name="share")
    long["gate"] = long["gate"].map({"fraction_without_gate": "without", "fraction_with_gate": "with"})
    mean = long.groupby(["head", "detector", "population", "gate", "predicted"], sort=False)["share"].mean()
    table = mean.unstack("predicted")
    order = list(dict.fromkeys(gate["predicted"]))
    return table[order].reset_index()


def tabulate_ood(ood_runs: str | Path, runs_tsv: str | Path, gate_tsvs: Sequence[str | Path],
                 out_dir: str | Path, selection_metric: str, ood_intervals_tsv: str | Path | None = None) -> None:
    gate_files = {str(Path(f).parent): f for f in gate_tsvs}
    detectors = ood_detector_table(read_ood_runs(ood_runs))
    interval_note = ""
    if ood_intervals_tsv:
        intervals = read_intervals(ood_intervals_tsv, OOD_INTERVAL_COLUMNS)
        detectors = beside_intervals(detectors, intervals, ["auroc", f"auroc_vs_{BASELINE}"], OOD_KEYS, "ood_runs.tsv")
        interval_note = (" " + _interval_note(intervals) + f" auroc_vs_{BASELINE} [interval] is paired (the same "
                         "resamples for both detectors): a detector differs from the baseline only where it excludes 0.")
    write_table(_task_order(detectors, *CONFIG_KEYS, "head"), Path(out_dir) / "ood_detectors",
                f"OOD detectors vs the {BASELINE.upper()} baseline (test split), far and near OOD apart",
                convention() + ". ood_level: far = OOD categories far from dermoscopy (scenes, textures), near = "
                "categories listed in data.ood_levels.near, held-out lesion classes (held_out:{class}) and external near-OOD "
                "images ({source}:{label}), shift = external images of the study's classes under another camera or "
                "population (ood.shift), all = every far and near OOD test image (shift never pooled); each against all "
                "in-distribution test images. Hyper-parameters (params) chosen on "
                f"val; auroc_vs_msp = AUROC minus the {BASELINE.upper()} AUROC of the same run, head and level."
                + interval_note)
    chosen = best_ood_runs(read_runs(runs_tsv), gate_files, selection_metric)
    frames = [gate_table({d: gate_files[d] for d in dirs}).assign(**config) for config, dirs in chosen]
    gates = pd.concat(frames, ignore_index=True)
    gates = gates[CONFIG_KEYS + [c for c in gates.columns if c not in CONFIG_KEYS]]
    write_table(gates, Path(out_dir) / "ood_gate", "The gate in front of the lesion classifier",
                "Mean share over seeds of the test images of each population that the lesion head calls each class, "
                "without and with the gate (threshold accepting the configured share of in-distribution val images); "
                f"for each experiment's best lesion model among the OOD architectures (chosen on val by {selection_metric}).")
    log.info("OOD tables: %d detector rows, %d gate rows", len(detectors), len(gates))


def best_ood_runs(tidy: pd.DataFrame, ood_files: Mapping[str, str | Path], metric: str,
                  group_by: Sequence[str] = ("experiment",)) -> list[tuple[dict, list[str]]]:
    """Per experiment (or other ``group_by``; ("task",): the whole study): the best lesion configuration (on
    val) among the runs that have OOD results, and the OOD run directories (one per seed) of that configuration."""
    runs = {d: run_from_dir(d) for d in ood_files}
    with_ood = pd.DataFrame([r.as_dict() for r in runs.values()])[CONFIG_KEYS].drop_duplicates()
    lesion = tidy[tidy["task"] == "lesion"].merge(with_ood, on=CONFIG_KEYS)
    out = []
    for row in select_best(lesion, metric, list(group_by)).itertuples(index=False):
        config = {k: getattr(row, k) for k in CONFIG_KEYS}
        dirs = sorted((d for d, r in runs.items() if all(getattr(r, k) == v for k, v in config.items())),
                      key=lambda d: runs[d].seed)
        out.append((config, dirs))
    return out


# --- features --------------------------------------------------------------------------------

def feature_set_table(settings_files: Sequence[str | Path]) -> pd.DataFrame:
    """One row per feature store: what the encoder was and whether its weights were random."""
    rows = []
    for path in settings_files:
        settings = read_json(path)
        try:
            rows.append({"store": str(Path(path).parent.relative_to(Path(path).parents[3])),
                         **{k: settings[k] for k in ("encoder", "pooling", "resolution", "crop", "n_views", "dim",
                                                     "random_weights", "checkpoint_sha256", "crop_fallbacks")}})
        except KeyError as missing:
            raise ResultsError(f"{path}: no key {missing}") from None
    return pd.DataFrame(rows).fillna({"checkpoint_sha256": ""})


def tabulate_features(settings_files: Sequence[str | Path], out_dir: str | Path) -> None:
    table = feature_set_table(settings_files)
    n_random = int(table["random_weights"].sum())
    note = "random_weights = the encoder had no checkpoint: features carry no learned information."
    if n_random:
        note = f"WARNING: {n_random} of {len(table)} feature stores use random encoder weights. " + note
        log.warning("%d of %d feature stores use random encoder weights", n_random, len(table))
    write_table(table, Path(out_dir) / "feature_sets", "Feature stores", note)
    log.info("feature table: %d stores", len(table))

