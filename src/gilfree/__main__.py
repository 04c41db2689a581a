"""``python -m gilfree`` runs the ``gilfree`` command (see :mod:`gilfree.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
