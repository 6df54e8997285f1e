"""Puts the repository root on ``sys.path`` so that a bench script can reuse the test
support (``tests.support``: real node processes, the signing fake peer).

Why a module of its own: ``python bench/NAME.py`` puts only ``bench/`` on the path, and
``tests`` is not an installed package. Importing this first (it sorts before the
first-party imports) keeps the scripts free of path juggling between imports.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
