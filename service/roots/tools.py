"""`tempstrong keys` and `tempstrong token`: dev keys and tokens for trying the API out."""

from __future__ import annotations

import shlex
from pathlib import Path

from ..config import ConfigError
from ..security.devkeys import (
    DELIVERY_PRIVATE_FILE,
    DEV_AUDIENCE,
    DEV_ISSUER,
    HASH_KEY_FILE,
    DevKeys,
    make_dev_keys,
)
from ..security.permissions import SELF_ADMIN_ROLE


def keys(out: Path) -> int:
    """Makes (or keeps) the keys, and prints which variable each one goes into."""
    made = make_dev_keys(out)
    folder = shlex.quote(str(out))
    print(
        "\n".join(
            [
                f"# dev keys in {out}: for trying tempstrong out, never for production.",
                '# `eval "$(tempstrong keys ...)"` sets them in this shell.',
                "# the API:",
                f"export TEMPSTRONG_JWKS={shlex.quote(str(made.jwks_path.resolve()))}",
                f"export TEMPSTRONG_JWT_ISSUER={DEV_ISSUER}",
                f"export TEMPSTRONG_JWT_AUDIENCE={DEV_AUDIENCE}",
                f"export TEMPSTRONG_DELIVERY_PUBLIC_KEY={made.delivery_public_key}",
                f'export TEMPSTRONG_HASH_KEY="$(cat {folder}/{HASH_KEY_FILE})"',
                "# the API, the delivery worker, migrate, rewrap and import: the keyring that",
                "# wraps every person's data key (keep it like the database's own backups)",
                "export TEMPSTRONG_PERSONAL_DATA_KEYS="
                + shlex.quote(str(made.personal_data_keys_path.resolve())),
                "# the delivery worker only:",
                f'export TEMPSTRONG_DELIVERY_PRIVATE_KEY="$(cat {folder}/{DELIVERY_PRIVATE_FILE})"',
                f"# tokens: tempstrong token --keys {folder} --client ... --permissions ...",
            ]
        )
    )
    return 0


def token(
    keys_dir: str,
    subject: str,
    clients: list[str],
    permissions: list[str],
    *,
    self_admin: bool,
    lifetime: int,
) -> int:
    dev_keys = DevKeys(Path(keys_dir))
    if not dev_keys.jwks_path.exists():
        raise ConfigError(f"tempstrong token: no dev keys in {keys_dir} (run tempstrong keys)")
    claims: dict[str, object] = {"sub": subject, "iss": DEV_ISSUER, "aud": DEV_AUDIENCE}
    if self_admin:
        if len(clients) != 1:
            raise ConfigError("tempstrong token: --self-admin needs exactly one --client")
        claims.update(roles=[SELF_ADMIN_ROLE], client=clients[0])
    else:
        claims.update(permissions=permissions, clients=clients)
    print(dev_keys.sign(claims, lifetime_seconds=lifetime))
    return 0
