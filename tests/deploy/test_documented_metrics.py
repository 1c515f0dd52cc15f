"""Every metric docs/operations.md tells operators to watch is one the processes export."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"`(tempstrong_[a-z_]+)")


def _exported_names() -> str:
    return "\n".join(
        path.read_text(encoding="utf-8")
        for folder in ("service", "projections")
        for path in (ROOT / folder).rglob("*.py")
    )


def test_documented_metrics_exist():
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    documented = {
        re.sub(r"_(total|bucket|count|sum)$", "", name) for name in _NAME.findall(section)
    }
    assert len(documented) >= 15
    source = _exported_names()
    missing = sorted(
        name for name in documented if f'"{name}"' not in source and f'"{name}_total"' not in source
    )
    assert not missing, f"documented but not exported: {missing}"
