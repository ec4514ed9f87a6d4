"""``python -m hepopt.cli``: the same as the ``hepopt`` command."""

from __future__ import annotations

import sys

from hepopt.cli.main import main

sys.exit(main())
