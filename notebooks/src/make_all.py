"""Regenerate every notebook that has a ``make_NN.py`` here."""

import runpy
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here))
for script in sorted(here.glob("make_[0-9][0-9].py")):
    runpy.run_path(str(script), run_name="__main__")
