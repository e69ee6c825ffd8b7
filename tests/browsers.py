"""Where the browser tests find Chromium, and whether they can run here."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("TANDEM_CHROMIUM") or "/usr/bin/chromium")
AVAILABLE = CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)
IN_CI = bool(os.environ.get("CI"))
