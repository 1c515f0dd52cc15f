"""`python -m service.delivery`: the delivery worker, settings from TEMPSTRONG_*."""

from __future__ import annotations

import sys

from .process import main_delivery

if __name__ == "__main__":
    sys.exit(main_delivery())
