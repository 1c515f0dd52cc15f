"""Issue 18, item 1: the email rule is syntax only.

`x@example.test`, `x@corp.local` and `x@localhost` were refused (the email-validator library
refuses special-use and single-label domains), while a local part of 65 to 200 characters was
accepted and then refused by a strict relay. The corpus says what the rule decides, and why.
"""

from __future__ import annotations

import email
import email.utils
from email import policy

import pytest
from aiosmtplib.email import quote_address
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.addresses import is_valid_email
from tests.support.addresses import EMAIL_CORPUS, CorpusAddress, corpus_ids


@pytest.mark.parametrize("entry", EMAIL_CORPUS, ids=corpus_ids(EMAIL_CORPUS))
def test_the_rule_decides_each_corpus_address_as_the_corpus_says(entry: CorpusAddress) -> None:
    assert is_valid_email(entry.address) == entry.accept, str(entry)


_ATEXT = "abcxyzABCXYZ0189!#$%&'*+/=?^_`{|}~-"
# and look-alikes: Cyrillic a, fullwidth @, ideographic full stop, the Kelvin sign
_NEAR_MISSES = '.@ "(),:;<>[\\]\r\n\t\x00\x7fé\u0430\uff20\u3002\u212a'
_LDH = "abcxyzABCXYZ0189-"
_local = st.text(alphabet=_ATEXT + ".", min_size=1, max_size=70)
_domain = st.lists(st.text(alphabet=_LDH, min_size=1, max_size=65), min_size=1, max_size=5).map(
    ".".join
)
# RFC 2047 encoded-words are atext too, and a header parser may decode them (Python's does)
_encoded_word = st.builds(
    "=?{}?{}?{}?=".format,
    st.sampled_from(["utf-8", "iso-8859-1", "x"]),
    st.sampled_from("qQbB"),
    st.text(alphabet="abAB09=+/_", min_size=1, max_size=12),
)
_candidates = st.one_of(
    st.builds(
        lambda word, local, domain: f"{word}.{local}@{domain}", _encoded_word, _local, _domain
    ),
    st.builds(lambda local, domain: f"{local}@{domain}", _local, _domain),
    st.builds(
        lambda local, domain, noise, at: (
            f"{local}@{domain}"[:at] + noise + f"{local}@{domain}"[at:]
        ),
        _local,
        _domain,
        st.text(alphabet=_ATEXT + _NEAR_MISSES, min_size=1, max_size=3),
        st.integers(min_value=0, max_value=80),
    ),
    st.emails(),
    st.text(alphabet=_ATEXT + _LDH + _NEAR_MISSES, max_size=40),
)


@settings(max_examples=1000, derandomize=True, database=None, deadline=None)
@given(_candidates)
def test_whatever_the_rule_accepts_goes_into_rcpt_to_and_the_to_header_unchanged(text: str) -> None:
    """What SmtpChannel sends: aiosmtplib quotes the recipient into `RCPT TO:<...>` (by way of
    email.utils.parseaddr) and compose() writes `To: <address>` as is. An accepted address must
    come out of both exactly as it went in: one mailbox, nothing stripped, decoded or added."""
    if not is_valid_email(text):
        return
    assert text.isascii() and len(text) <= 254
    assert not any(c in text for c in " \t\r\n\x00\x7f")
    assert email.utils.parseaddr(text) == ("", text)
    assert quote_address(text) == f"<{text}>"
    header = email.message_from_string(f"To: {text}\n\n", policy=policy.default)["To"]
    assert [(a.display_name, a.addr_spec) for a in header.addresses] == [("", text)]
    local, domain = text.rsplit("@", 1)
    assert len(local) <= 64 and all(0 < len(label) <= 63 for label in domain.split("."))
