"""Policy parameters (nevisIDM names, defaults) and the policy file's error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import ConfigError, Settings
from service.domain.errors import NotFound, PolicyNotAllowed
from service.domain.policy import (
    HashAlgorithm,
    LockingMode,
    PolicyError,
    SendingMethod,
    TempStrongPasswordPolicy,
    parse_policy,
)
from service.roots.policies import load_policy_file


def test_defaults_follow_nevisidm():
    policy = TempStrongPasswordPolicy()
    assert policy.credential_lifetime_ms == 432_000_000
    assert policy.hash_algorithm is HashAlgorithm.SSHA256
    assert policy.sending_method is SendingMethod.EMAIL
    assert (policy.ticket_len0, policy.ticket_len1) == (30, 8)
    assert policy.plain_value_exposed_to_caller is True
    assert (policy.max_reset_count, policy.max_cred_failure_count) == (5, 3)
    assert (policy.tmp_locking_threshold, policy.tmp_locking_duration_ms) == (2, 60_000)
    assert policy.tmp_locking_mode is LockingMode.STRICT
    assert len(policy.ticket_character_set) == 62


def test_parse_reads_nevisidm_names():
    policy = parse_policy(
        "p",
        {
            "type": "TempStrongPasswordPolicy",
            "ticketLen1": 6,
            "sendingMethod": "SMS",
            "tmpLockingMode": "threshold",
        },
    )
    assert policy.ticket_len1 == 6 and policy.sending_method is SendingMethod.SMS
    assert policy.tmp_locking_mode is LockingMode.THRESHOLD


@pytest.mark.parametrize(
    ("parameters", "key"),
    [
        ({"ticketLen0": 0}, "ticketLen0"),
        ({"ticketLen0": "30"}, "ticketLen0"),
        ({"ticketLen0": True}, "ticketLen0"),
        ({"sendingMethod": "Fax"}, "sendingMethod"),
        ({"ticketCharacterSet": "aa"}, "ticketCharacterSet"),
        ({"ticketCharacterSet": "a b"}, "ticketCharacterSet"),
        ({"plainValueExposedToCaller": "yes"}, "plainValueExposedToCaller"),
        ({"bogus": 1}, "bogus"),
        (
            {"sendingMethod": "None", "plainValueExposedToCaller": False},
            "plainValueExposedToCaller",
        ),
    ],
)
def test_invalid_parameters_name_their_key(parameters, key):
    with pytest.raises(PolicyError) as error:
        parse_policy("p", parameters)
    assert error.value.key == key


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policies.yaml"
    path.write_text(text)
    return path


def test_catalog_resolves_clients_and_policies(tmp_path):
    catalog = load_policy_file(
        _file(
            tmp_path,
            """
clients:
  acme: {defaultPolicy: p1, policies: [p2]}
  bare:
policies:
  p1: {type: TempStrongPasswordPolicy, ticketLen0: 10}
  p2: {type: TempStrongPasswordPolicy, ticketLen0: 11}
  default: {type: TempStrongPasswordPolicy, ticketLen0: 12}
  pw: {type: PasswordPolicy}
""",
        )
    )
    assert catalog.default_policy("acme").ticket_len0 == 10
    assert catalog.default_policy("bare").ticket_len0 == 12
    with pytest.raises(NotFound):
        catalog.default_policy("nobody")
    assert catalog.allowed_policy("acme", "p1").ticket_len0 == 10
    assert catalog.allowed_policy("acme", "p2").ticket_len0 == 11
    assert catalog.allowed_policy("bare", "default").ticket_len0 == 12
    for client, name in [("acme", "pw"), ("acme", "missing"), ("acme", "default"), ("bare", "p2")]:
        with pytest.raises(PolicyNotAllowed, match="not allowed"):
            catalog.allowed_policy(client, name)


def test_a_client_may_use_only_its_own_policies(tmp_path):
    """Issue 11 finding 4: no PATCH or create may move a credential to another client's policy."""
    catalog = load_policy_file(
        _file(
            tmp_path,
            """
clients:
  a: {defaultPolicy: a-mail}
  b: {defaultPolicy: b-mail, policies: [b-none]}
policies:
  a-mail: {type: TempStrongPasswordPolicy}
  b-mail: {type: TempStrongPasswordPolicy}
  b-none: {type: TempStrongPasswordPolicy, sendingMethod: None}
""",
        )
    )
    with pytest.raises(PolicyNotAllowed):
        catalog.allowed_policy("a", "b-none")
    with pytest.raises(PolicyNotAllowed):
        catalog.allowed_policy("a", "b-mail")
    assert catalog.allowed_policy("b", "b-none").ext_id == "b-none"


def test_client_without_default_and_no_default_policy_gets_builtins(tmp_path):
    catalog = load_policy_file(_file(tmp_path, "clients:\n  bare:\npolicies: {}\n"))
    assert catalog.default_policy("bare") == TempStrongPasswordPolicy()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("clients: {acme: {defaultPolicy: nope}}\npolicies: {}\n", "clients.acme.defaultPolicy"),
        (
            "clients: {acme: }\npolicies: {p: {type: TempStrongPasswordPolicy, ticketLen1: -1}}\n",
            "policies.p.ticketLen1",
        ),
        ("clients: {'a b': }\n", "clients.a b"),
        (
            "clients: {acme: {policies: [pw]}}\npolicies: {pw: {type: PasswordPolicy}}\n",
            "clients.acme.policies",
        ),
        ("clients: {acme: {policies: nope}}\n", "clients.acme.policies"),
        ("clients: {}\n", "clients"),
        ("clients: [\n", "not valid YAML"),
        (
            "clients: {acme: }\n"
            "policies: {h: {type: TempStrongPasswordPolicy, hashAlgorithm: HMAC-SHA256}}\n",
            "TEMPSTRONG_HASH_KEY",
        ),
    ],
)
def test_invalid_file_names_file_key_and_problem(tmp_path, text, fragment):
    path = _file(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_policy_file(path)
    assert str(path) in str(error.value) and fragment in str(error.value)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        load_policy_file(tmp_path / "absent.yaml")


def test_settings_require_names_what_is_missing():
    settings = Settings.from_env({"TEMPSTRONG_DATABASE_URL": "postgresql://x/y"})
    with pytest.raises(ConfigError) as error:
        settings.require("api", "database_url", "jwks", "policy_file")
    assert "TEMPSTRONG_JWKS" in str(error.value) and "TEMPSTRONG_POLICY_FILE" in str(error.value)
    assert "TEMPSTRONG_DATABASE_URL" not in str(error.value)


def test_settings_refuse_a_non_postgres_url():
    settings = Settings.from_env({"TEMPSTRONG_DATABASE_URL": "sqlite:///x"})
    with pytest.raises(ConfigError, match="postgresql://"):
        settings.require("api", "database_url")


def test_settings_refuse_a_bad_port():
    with pytest.raises(ConfigError, match="TEMPSTRONG_HTTP_PORT"):
        Settings.from_env({"TEMPSTRONG_HTTP_PORT": "http"})


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, False), ("", False), ("false", False), ("1", True), ("TRUE", True)]
)
def test_settings_read_the_reuse_port_flag(raw, expected):
    env = {} if raw is None else {"TEMPSTRONG_HTTP_REUSE_PORT": raw}
    assert Settings.from_env(env).http_reuse_port is expected


def test_settings_refuse_an_unclear_flag():
    with pytest.raises(ConfigError, match="TEMPSTRONG_HTTP_REUSE_PORT"):
        Settings.from_env({"TEMPSTRONG_HTTP_REUSE_PORT": "maybe"})
