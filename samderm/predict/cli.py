"""``samderm predict IMAGE_OR_DIR --bundle results/models [--out DIR]``: arguments to predict_images."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from samderm.logs import setup_logging
from samderm.score.cli import add_score_parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", help="an image file or a folder of images (searched recursively)")
    parser.add_argument("--bundle", default="results/models", help="the study's model bundle (default results/models)")
    parser.add_argument("--study", default=None, help="a study's results folder: the same as --bundle STUDY/models")
    parser.add_argument("--out", default=None, help="output folder (default results/predict/<name of IMAGES>)")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="ENCODER=FILE",
                        help="the encoder's weights file where the recorded path does not reach it (sha256-checked)")
    parser.add_argument("--masks", default=None, help="optional folder of {image stem}_mask.png lesion masks")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)


def run(args: argparse.Namespace) -> int:
    from samderm.predict.bundle import BundleError, weights_terms
    from samderm.predict.run import predict_images

    checkpoints = {}
    for item in args.checkpoint:
        name, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"--checkpoint {item!r}: write ENCODER=FILE")
        checkpoints[name] = path
    bundle = Path(args.study) / "models" if args.study else Path(args.bundle)
    out = Path(args.out) if args.out else Path("results/predict") / Path(args.images).resolve().stem
    try:
        counts = predict_images(args.images, bundle, out, checkpoints, args.masks, args.device, args.threads,
                                args.batch_size)
    except (BundleError, FileNotFoundError) as err:
        logging.getLogger("samderm").error("%s", err)
        return 2
    print(f"{counts['found']} found = {counts['predicted']} predicted + {counts['bad']} bad; "
          f"{counts['accepted']} accepted; results in {out}/ (index.html, predictions.tsv)")
    for encoder, terms in weights_terms(bundle).items():
        print(f"encoder {encoder}: weights' licence {terms}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="samderm", description="samderm: use a finished study")
    commands = parser.add_subparsers(dest="command", required=True)
    add_arguments(commands.add_parser("predict", help="predict new images with a study's model bundle"))
    add_score_parser(commands)
    args = parser.parse_args(argv)
    setup_logging()
    return args.handler(args) if hasattr(args, "handler") else run(args)


if __name__ == "__main__":
    sys.exit(main())
