"""Addresses: what the API accepts is what the delivery worker can send to.

- `email`: a bare RFC 5321 mailbox in ASCII, checked by syntax only (`EMAIL`, at most 254
  characters): no display name, quotes, comments, spaces, commas, angle brackets, CR, LF or NUL;
  whether the domain is reachable is the operator's relay's business, so special-use and
  single-label names (`x@corp.local`, `x@localhost`) are accepted;
- `mobile`: E.164, `+` and 7 to 15 digits;
- `language`: a well-formed BCP 47 tag (RFC 5646 grammar), at most 35 characters.
"""

from __future__ import annotations

import re

EMAIL_MAX_LENGTH = 254  # RFC 5321 4.5.3.1.3: a path of 256 octets, angle brackets included
LOCAL_PART_MAX_LENGTH = 64  # RFC 5321 4.5.3.1.1
LANGUAGE_MAX_LENGTH = 35
MOBILE = re.compile(r"\+[0-9]{7,15}")

# The mailbox as one pattern that reads the same in ECMA-262 (the OpenAPI document publishes
# it): no flags (re.IGNORECASE would let the Kelvin sign match `k`), only negative lookaheads.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"  # RFC 5322 3.2.3, ASCII only
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"  # dots only between atoms
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"  # LDH, 1 to 63 (RFC 1035, 1123)
# What it refuses beyond the two grammars:
# - a local part over 64 characters: 65 characters before any `@` (atext has no `@`);
_LOCAL_PART_FITS = rf"(?![^@]{{{LOCAL_PART_MAX_LENGTH + 1}}})"
# - an RFC 2047 encoded-word in the local part: it must not appear in an addr-spec (RFC 2047
#   5), yet header parsers decode it (`=?utf-8?q?a=2Cb?=@x.test` is `"a,b"@x.test` to
#   Python's email package): the To header would name another mailbox than RCPT TO;
_NO_ENCODED_WORD = r"(?![^@]*=\?[^?@]*\?[^?@]*\?[^?@]*\?=)"
# - an all-numeric last label (RFC 1123 2.1): `x@127.0.0.1` is an IP address in disguise,
#   which some relays deliver to as if it were the literal `x@[127.0.0.1]`.
_NOT_ALL_NUMERIC = r"(?![0-9]+$)"
# A trailing dot (`x@example.com.`) is not RFC 5321 Domain syntax: refused.
EMAIL = re.compile(
    rf"{_LOCAL_PART_FITS}{_NO_ENCODED_WORD}{_DOT_ATOM}@(?:{_LABEL}\.)*{_NOT_ALL_NUMERIC}{_LABEL}"
)

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
    """The one rule for the API and the delivery worker."""
    return len(value) <= EMAIL_MAX_LENGTH and EMAIL.fullmatch(value) is not None


def is_valid_mobile(value: str) -> bool:
    return MOBILE.fullmatch(value) is not None


def is_valid_language(value: str) -> bool:
    return len(value) <= LANGUAGE_MAX_LENGTH and LANGUAGE.fullmatch(value) is not None
