"""Addresses of SPEC section 1: what the API accepts is what the delivery worker can send to.

- `email`: a bare RFC 5321 mailbox in ASCII (`local@domain`, at most 254 characters): no display
  name, quotes, comments, spaces, commas, angle brackets, CR, LF or NUL; checked with the
  email-validator library without any DNS lookup (it also refuses a domain without a dot and
  special-use domains such as `localhost`, `.local`, `.test`, `.invalid`);
- `mobile`: E.164, `+` and 7 to 15 digits;
- `language`: a well-formed BCP 47 tag (RFC 5646 grammar), at most 35 characters.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

EMAIL_MAX_LENGTH = 254
LANGUAGE_MAX_LENGTH = 35
MOBILE = re.compile(r"\+[0-9]{7,15}")

_ALNUM = "[a-z0-9]"
_LANGTAG = (
    r"(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})"  # language, extlang
    r"(?:-[a-z]{4})?"  # script
    r"(?:-(?:[a-z]{2}|[0-9]{3}))?"  # region
    rf"(?:-(?:{_ALNUM}{{5,8}}|[0-9]{_ALNUM}{{3}}))*"  # variants
    rf"(?:-[0-9a-wyz](?:-{_ALNUM}{{2,8}})+)*"  # extensions
    rf"(?:-x(?:-{_ALNUM}{{1,8}})+)?"  # private use
)
_PRIVATE_USE = rf"x(?:-{_ALNUM}{{1,8}})+"
_IRREGULAR = (
    "en-GB-oed|i-ami|i-bnn|i-default|i-enochian|i-hak|i-klingon|i-lux|i-mingo|i-navajo|i-pwn"
    "|i-tao|i-tay|i-tsu|sgn-BE-FR|sgn-BE-NL|sgn-CH-DE"
)
LANGUAGE = re.compile(rf"(?:{_LANGTAG}|{_PRIVATE_USE}|{_IRREGULAR})", re.IGNORECASE | re.ASCII)


def is_valid_email(value: str) -> bool:
    if not value.isascii() or len(value) > EMAIL_MAX_LENGTH:
        return False
    try:
        validate_email(
            value,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
        )
    except EmailNotValidError:
        return False
    return True


def is_valid_mobile(value: str) -> bool:
    return MOBILE.fullmatch(value) is not None


def is_valid_language(value: str) -> bool:
    return len(value) <= LANGUAGE_MAX_LENGTH and LANGUAGE.fullmatch(value) is not None
