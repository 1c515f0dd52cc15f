"""Domain errors are values with a code; the HTTP layer maps each code to a status once."""

from __future__ import annotations


class DomainError(Exception):
    """A refused command. `code` is the API error code, `message` is safe to show callers."""

    code = "errors.validation"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(DomainError):
    code = "errors.validation"


class NotFound(DomainError):
    code = "errors.noRecord"


class AlreadyExists(DomainError):
    code = "errors.alreadyExists"


class Conflict(DomainError):
    code = "errors.conflict"


class IdempotencyKeyReused(DomainError):
    """The same Idempotency-Key (same caller, method and path) with another request body."""

    code = "errors.idempotencyKeyReused"


class MaxResetCountReached(DomainError):
    code = "errors.maxResetCountReached"


class CredentialArchived(DomainError):
    code = "errors.credentialArchived"


class PolicyNotAllowed(DomainError):
    """The named policy is neither the client's default nor in its `policies:` list."""

    code = "errors.policyNotAllowed"


class StateNotAllowed(DomainError):
    """Only failed verifications lock a credential; no request may set a locked state."""

    code = "errors.stateNotAllowed"


class CredentialLocked(DomainError):
    code = "errors.credentialLocked"


class CredentialNotUsable(DomainError):
    code = "errors.credentialNotUsable"


class InvalidCredential(DomainError):
    code = "errors.invalidCredential"


class MissingDeliveryAddress(DomainError):
    code = "errors.missingDeliveryAddress"


class DeliveryNotConfigured(DomainError):
    code = "errors.deliveryNotConfigured"
