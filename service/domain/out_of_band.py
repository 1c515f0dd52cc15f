"""Which part of a new password goes where, decided once for every command.

- `sendingMethod: None`: no out-of-band channel; the response carries the whole password;
- `plainValueExposedToCaller: true`: the response carries fragment0, the channel fragment1;
- `false`: the response carries nothing, the channel the whole password.
A channel needs its address: Email the user's email, SMS the user's mobile (PDF letters go to a
spool folder and need none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import MissingDeliveryAddress
from .password import GeneratedPassword
from .policy import SendingMethod, TempStrongPasswordPolicy
from .user import User


@dataclass(frozen=True)
class PasswordSplit:
    """What the caller's response carries and what the out-of-band channel carries."""

    for_response: str | None = field(repr=False)
    out_of_band: str | None = field(repr=False)
    method: SendingMethod
    whole: str = field(repr=False)


def split_password(policy: TempStrongPasswordPolicy, password: GeneratedPassword) -> PasswordSplit:
    method = policy.sending_method
    if method is SendingMethod.NONE:
        return PasswordSplit(password.whole, None, method, password.whole)
    if policy.plain_value_exposed_to_caller:
        return PasswordSplit(password.fragment0, password.fragment1, method, password.whole)
    return PasswordSplit(None, password.whole, method, password.whole)


def check_delivery_address(method: SendingMethod, user: User) -> None:
    if method is SendingMethod.EMAIL and not user.email:
        raise MissingDeliveryAddress("The policy sends by Email but the user has no email.")
    if method is SendingMethod.SMS and not user.mobile:
        raise MissingDeliveryAddress("The policy sends by SMS but the user has no mobile.")
