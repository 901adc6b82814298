"""``python -m manifold`` runs the ``manifold`` command."""

import sys

from manifold.cli import main

sys.exit(main())
