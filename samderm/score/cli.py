"""``samderm score PREDICTIONS.csv [--out DIR]``: score another model's per-image predictions like a run."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def add_score_parser(subparsers) -> argparse.ArgumentParser:
    """The ``score`` subcommand; ``args.handler`` is ``main_score``."""
    parser = subparsers.add_parser(
        "score", help="score per-image predictions (PanDerm's CSV schema or an ISIC 2019 submission)",
        description="Metrics, group-bootstrap intervals, calibration, one-vs-rest AUROC and (with val rows in a "
                    "split column) operating points of one predictions file.")
    parser.add_argument("predictions", help="filename,true_label,predicted_label,probability_class_0..K-1 CSV, or an "
                                            "ISIC submission (image + class columns) with --ground-truth")
    parser.add_argument("--format", default="auto", choices=("auto", "panderm", "isic"))
    parser.add_argument("--ground-truth", default=None, help="ISIC format: the one-hot ground-truth CSV")
    parser.add_argument("--classes", default=None,
                        help="comma-separated names of probability_class_0..K-1 (PanDerm) or the class columns (ISIC)")
    parser.add_argument("--class-map", default=None,
                        help="YAML/JSON file mapping the file's classes (names or indices) to class names or null")
    parser.add_argument("--groups", default=None, help="a column of the file holding each image's lesion group")
    parser.add_argument("--manifest", default=None,
                        help="a study's manifest.tsv: groups from its group_id (or lesion_id) by image_id")
    parser.add_argument("--task", default=None, help="the task's name (default: from the classes)")
    parser.add_argument("--out", default=None, help="output folder (default results/external/<file stem>)")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--level", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bins", type=int, default=10, help="ECE bins")
    parser.set_defaults(handler=main_score)
    return parser


def main_score(args: argparse.Namespace) -> int:
    from samderm.score.read import PredictionsError
    from samderm.score.score import GROUPS_MANIFEST, score_file

    if args.groups and args.manifest:
        raise SystemExit("--groups and --manifest both give groups: choose one")
    out = Path(args.out) if args.out else Path("results/external") / Path(args.predictions).stem
    classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
    try:
        metrics = score_file(args.predictions, out, format=args.format, classes=classes, class_map=args.class_map,
                             ground_truth=args.ground_truth,
                             groups=args.groups or (GROUPS_MANIFEST if args.manifest else None),
                             manifest_tsv=args.manifest, task=args.task, n_resamples=args.resamples,
                             level=args.level, seed=args.seed, n_bins=args.bins)
    except (PredictionsError, FileNotFoundError) as err:
        logging.getLogger("samderm").error("%s", err)
        return 2
    ((task, block),) = metrics["tasks"].items()
    test, counts = block["test"], metrics["source"]["counts"]
    print(f"{counts['read']} rows read = {counts['test']} test + {counts['val']} val + {counts['excluded']} excluded; "
          f"{task}: accuracy {test['accuracy']:.4f}, balanced accuracy {test['balanced_accuracy']:.4f}, "
          f"macro-F1 {test['macro_f1']:.4f}, AUROC {test['auroc']:.4f}; results in {out}/")
    return 0
