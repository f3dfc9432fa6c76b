"""The lab tool is a standalone script package under lab/ (not part of the
collection): make ``bot4lab`` importable for these tests."""

import sys
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parents[3] / "lab"
if str(LAB_DIR) not in sys.path:
    sys.path.insert(0, str(LAB_DIR))
