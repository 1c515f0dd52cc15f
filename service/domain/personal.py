"""Personal data as the aggregates hold it: ciphertext under a person's own data key.

A person's `loginId`, `email` and `mobile`, and the free text written about their credential
(`modificationComment`, `stateChangeDetail`), are personal data. Events and snapshots hold them
only as `Encrypted` values (service/privacy/ encrypts and opens them); once the person's data key
is destroyed, nothing can open them again while every event still decodes (crypto-shredding).
This module holds no crypto and does no I/O: the domain only carries the values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

# The fields that are personal data, by the aggregate attribute that holds them.
USER_FIELDS = ("login_id", "email", "mobile")
CREDENTIAL_TEXT_FIELDS = ("modification_comment", "state_change_detail")


@dataclass(frozen=True)
class Encrypted:
    """A personal value, sealed to the data key `key_id` and bound to its aggregate and field
    (authenticated data): it opens nowhere else. `sealed` is the nonce and the ciphertext."""

    key_id: UUID
    sealed: bytes = field(repr=False)


# What an aggregate attribute of personal data holds: ciphertext, nothing, or (in events stored
# before 2026-12-06, until `tempstrong migrate` rewrote them) the plaintext.
PersonalValue = Encrypted | str | None
