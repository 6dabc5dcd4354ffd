"""``python deploy/local/infra <command>`` (or ``python -m infra`` from deploy/local)."""

import sys
from pathlib import Path

# Run as a directory, Python puts this package's own folder first on sys.path, where its
# modules (kafka, logs, ...) would shadow installed ones: put deploy/local there instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from infra.cli import main  # noqa: E402

sys.exit(main())
