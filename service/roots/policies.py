"""Reading TEMPSTRONG_POLICY_FILE: every problem names the file and the key."""

from __future__ import annotations

from pathlib import Path

import yaml

from ..config import ConfigError
from ..domain.catalog import PolicyCatalog
from ..domain.policy import PolicyError
from ..domain.policy_file import parse_policy_document


def load_policy_file(path: str | Path, hash_key: bytes | None = None) -> PolicyCatalog:
    """Parses and validates the policy file; every problem names the file and the key."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"policy file {path}: cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"policy file {path}: not valid YAML: {exc}") from None
    try:
        return parse_policy_document(document, hash_key)
    except PolicyError as exc:
        raise ConfigError(f"policy file {path}: key {exc.key}: {exc.problem}") from None
