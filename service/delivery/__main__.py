"""`python -m service.delivery`: the delivery worker, settings from TEMPSTRONG_*."""

from __future__ import annotations

import sys

from service.config import ConfigError, Settings
from service.roots.delivery import main

if __name__ == "__main__":
    try:
        sys.exit(main(Settings.from_env()))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(2)
