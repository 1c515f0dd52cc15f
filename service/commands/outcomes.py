"""What commands take and give back beyond the aggregates themselves."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..domain.credential import TempStrongPassword
from ..domain.out_of_band import PasswordSplit


@dataclass(frozen=True)
class UserProfile:
    login_id: str | None = None
    email: str | None = None
    mobile: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class CredentialOutcome:
    """A created or reset credential, and what the response may carry."""

    credential: TempStrongPassword
    has_body: bool
    response_secret: str | None = field(default=None, repr=False)
    replayed: bool = False

    @classmethod
    def of(cls, credential: TempStrongPassword, split: PasswordSplit) -> CredentialOutcome:
        secret = split.for_response
        return cls(credential, has_body=secret is not None, response_secret=secret)
