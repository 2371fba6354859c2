"""``python -m samderm.predict IMAGE_OR_DIR --bundle ...``: the same as ``samderm predict``."""

import sys

from samderm.predict.cli import main

sys.exit(main(["predict", *sys.argv[1:]]))
