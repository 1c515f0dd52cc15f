"""The policy file the integration tests run with."""

POLICY_FILE = """\
clients:
  acme:
    defaultPolicy: tsp-default
    policies: [tsp-hmac, tsp-hidden-sms, tsp-none, tsp-busy, tsp-two-resets, tsp-strict,
               tsp-threshold, tsp-short-life, tsp-soak]
  other:
    defaultPolicy: tsp-default
    policies: [tsp-other-none, tsp-soak]
  plain:
policies:
  tsp-default:
    type: TempStrongPasswordPolicy
    sendingMethod: Email
    ticketLen0: 30
    ticketLen1: 8
    maxResetCount: 5
  tsp-hmac:
    type: TempStrongPasswordPolicy
    hashAlgorithm: HMAC-SHA256
    sendingMethod: Email
  tsp-hidden-sms:
    type: TempStrongPasswordPolicy
    sendingMethod: SMS
    plainValueExposedToCaller: false
  tsp-none:
    type: TempStrongPasswordPolicy
    sendingMethod: None
  tsp-busy:
    type: TempStrongPasswordPolicy
    sendingMethod: None
    maxResetCount: 1000000
    maxCredFailureCount: 1000000
    tmpLockingThreshold: 999999
  tsp-two-resets:
    type: TempStrongPasswordPolicy
    maxResetCount: 2
  tsp-strict:
    type: TempStrongPasswordPolicy
    maxCredFailureCount: 5
    tmpLockingThreshold: 2
    tmpLockingDuration: 60000
    tmpLockingMode: strict
  tsp-threshold:
    type: TempStrongPasswordPolicy
    maxCredFailureCount: 5
    tmpLockingThreshold: 2
    tmpLockingDuration: 60000
    tmpLockingMode: threshold
  tsp-short-life:
    type: TempStrongPasswordPolicy
    credentialLifetime: 1000
  tsp-other-none:
    type: TempStrongPasswordPolicy
    sendingMethod: None
  tsp-soak:
    type: TempStrongPasswordPolicy
    sendingMethod: Email
    maxResetCount: 1000000
    maxCredFailureCount: 1000000
    tmpLockingThreshold: 1000000
  pw-policy:
    type: PasswordPolicy
"""
