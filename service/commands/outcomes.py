"""What commands take and give back beyond the aggregates themselves."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..domain.credential import TempStrongPassword
from ..domain.out_of_band import PasswordSplit
from ..domain.user import User
from ..privacy.personal_data import NOTHING, Revealer


@dataclass(frozen=True)
class UserProfile:
    login_id: str | None = None
    email: str | None = None
    mobile: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class UserView:
    """A user, and what opens their personal values for the answer."""

    user: User
    revealer: Revealer = NOTHING


@dataclass(frozen=True)
class CredentialView:
    """A credential, and what opens the free text about it (the user's live key)."""

    credential: TempStrongPassword
    revealer: Revealer = NOTHING


@dataclass(frozen=True)
class CredentialOutcome:
    """A created or reset credential, and what the response may carry."""

    credential: TempStrongPassword
    has_body: bool
    response_secret: str | None = field(default=None, repr=False)
    replayed: bool = False
    revealer: Revealer = NOTHING

    @classmethod
    def of(
        cls, credential: TempStrongPassword, split: PasswordSplit, revealer: Revealer
    ) -> CredentialOutcome:
        secret = split.for_response
        return cls(credential, secret is not None, secret, revealer=revealer)
