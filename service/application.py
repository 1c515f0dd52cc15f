"""Commands and queries of the TSP service: load aggregates, let them decide, save, retry.

Synchronous (the eventsourcing library has no asyncio API): the HTTP layer calls these methods
through a bounded thread pool.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from .deadline import check_deadline
from .domain.catalog import PolicyCatalog
from .domain.credential import TempStrongPassword
from .domain.errors import AlreadyExists, Conflict, DomainError, NotFound
from .domain.idempotency import IDEMPOTENCY_WINDOW, IdempotencyRecord
from .domain.password import GeneratedPassword, PasswordHasher, generate_password
from .domain.policy import SendingMethod, TempStrongPasswordPolicy
from .domain.states import CredentialState
from .domain.user import User
from .persistence import EventStoreApp
from .sealing import Sealer

MAX_ATTEMPTS = 8

T = TypeVar("T")


class MissingDeliveryAddress(DomainError):
    code = "errors.missingDeliveryAddress"


class DeliveryNotConfigured(DomainError):
    code = "errors.deliveryNotConfigured"


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
    def of(
        cls,
        credential: TempStrongPassword,
        policy: TempStrongPasswordPolicy,
        password: GeneratedPassword,
    ) -> CredentialOutcome:
        if policy.response_carries_whole_password:
            secret: str | None = password.whole
        elif policy.response_carries_fragment0:
            secret = password.fragment0
        else:
            secret = None
        return cls(credential, has_body=secret is not None, response_secret=secret)


def utc_now() -> datetime:
    return datetime.now(UTC)


class CredentialService:
    def __init__(
        self,
        store: EventStoreApp,
        catalog: PolicyCatalog,
        hasher: PasswordHasher,
        sealer: Sealer | None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self._hasher = hasher
        self._sealer = sealer
        self._clock = clock

    # -- users ------------------------------------------------------------------------------

    def register_user(self, client: str, ext_id: str, profile: UserProfile) -> User:
        self.catalog.default_policy(client)  # unknown client -> 404

        def attempt() -> User:
            user = self.store.get_or_none(User.create_id(client, ext_id))
            if isinstance(user, User):
                user.register_again(**vars(profile))
            else:
                user = User(client_ext_id=client, ext_id=ext_id, **vars(profile))
            self._save(user)
            return user

        return self._with_retries(attempt)

    def get_user(self, client: str, ext_id: str) -> User:
        self.catalog.default_policy(client)
        user = self.store.get_or_none(User.create_id(client, ext_id))
        if not isinstance(user, User) or user.deleted:
            raise NotFound(f"User {ext_id!r} does not exist.")
        return user

    def delete_user(self, client: str, ext_id: str, actor: str | None) -> None:
        def attempt() -> None:
            user = self.get_user(client, ext_id)
            credential = self._attached_credential_or_none(user)
            if credential is not None:
                credential.delete(actor=actor)
            user.delete()
            self._save(user, credential)

        self._with_retries(attempt)

    # -- credential commands -----------------------------------------------------------------

    def create_credential(
        self,
        client: str,
        user_ext_id: str,
        *,
        ext_id: str | None,
        policy_ext_id: str | None,
        state_name: CredentialState | None,
        actor: str | None,
        idempotency_scope: str | None = None,
    ) -> CredentialOutcome:
        new_ext_id = ext_id or str(uuid.uuid4())

        def attempt() -> CredentialOutcome:
            now = self._clock()
            replay = self._replay(idempotency_scope, now)
            if replay is not None:
                return replay
            user = self.get_user(client, user_ext_id)
            if user.credential_id is not None:
                raise AlreadyExists(f"User {user_ext_id!r} already has a TSP credential.")
            if self.store.get_or_none(TempStrongPassword.create_id(client, new_ext_id)):
                raise AlreadyExists(f"Credential extId {new_ext_id!r} is already in use.")
            policy = (
                self.catalog.named_policy(policy_ext_id)
                if policy_ext_id
                else self.catalog.default_policy(client)
            )
            password = generate_password(policy)
            credential = TempStrongPassword.create(
                client_ext_id=client,
                user_ext_id=user_ext_id,
                ext_id=new_ext_id,
                policy=policy,
                state_name=state_name,
                password_hash=self._hasher.hash(password.whole, policy.hash_algorithm),
                delivery=self._sealed_delivery(policy, password, user, new_ext_id, version=1),
                actor=actor,
                now=now,
            )
            user.attach_credential(credential.id)
            outcome = CredentialOutcome.of(credential, policy, password)
            record = self._record_outcome(idempotency_scope, outcome, now)
            self._save(user, credential, record)
            return outcome

        return self._with_retries(attempt)

    def reset_credential(
        self, client: str, user_ext_id: str, *, actor: str | None, idempotency_scope: str | None
    ) -> CredentialOutcome:
        def attempt() -> CredentialOutcome:
            now = self._clock()
            replay = self._replay(idempotency_scope, now)
            if replay is not None:
                return replay
            user, credential = self._load(client, user_ext_id)
            policy = self.catalog.policy_in_effect(credential.policy_ext_id)
            password = generate_password(policy)
            delivery = self._sealed_delivery(
                policy, password, user, credential.ext_id, version=credential.version + 1
            )
            credential.reset(
                policy=policy,
                password_hash=self._hasher.hash(password.whole, policy.hash_algorithm),
                delivery=delivery,
                actor=actor,
                now=now,
            )
            outcome = CredentialOutcome.of(credential, policy, password)
            self._save(credential, self._record_outcome(idempotency_scope, outcome, now))
            return outcome

        return self._with_retries(attempt)

    def modify_credential(
        self,
        client: str,
        user_ext_id: str,
        *,
        expected_version: int,
        state_name: CredentialState | None,
        policy_ext_id: str | None,
        modification_comment: str | None,
        actor: str | None,
    ) -> TempStrongPassword:
        # No retry: a stale version is the caller's to resolve (409).
        _, credential = self._load(client, user_ext_id)
        credential.modify(
            expected_version=expected_version,
            state_name=state_name,
            new_policy=self.catalog.named_policy(policy_ext_id) if policy_ext_id else None,
            modification_comment=modification_comment,
            current_policy=self.catalog.policy_in_effect(credential.policy_ext_id),
            actor=actor,
            now=self._clock(),
        )
        try:
            self._save(credential)
        except IntegrityError:
            raise Conflict("The credential was modified concurrently.") from None
        return credential

    def delete_credential(self, client: str, user_ext_id: str, actor: str | None) -> None:
        def attempt() -> None:
            user, credential = self._load(client, user_ext_id)
            credential.delete(actor=actor)
            user.detach_credential()
            self._save(user, credential)

        self._with_retries(attempt)

    def verify(self, client: str, user_ext_id: str, password: str) -> bool:
        """True if the password matched; LoginSucceeded or LoginFailed is saved either way."""

        def attempt() -> bool:
            _, credential = self._load(client, user_ext_id)
            matched = credential.verify(
                password_matches=lambda stored: self._hasher.verify(password, stored),
                policy=self.catalog.policy_in_effect(credential.policy_ext_id),
                now=self._clock(),
            )
            self._save(credential)
            return matched

        return self._with_retries(attempt)

    # -- queries -----------------------------------------------------------------------------

    def get_credential(self, client: str, user_ext_id: str) -> TempStrongPassword:
        return self._load(client, user_ext_id)[1]

    def credential_events(self, client: str, user_ext_id: str) -> list[Any]:
        credential = self.get_credential(client, user_ext_id)
        return list(self.store.events.get(credential.id))

    def now(self) -> datetime:
        return self._clock()

    # -- helpers -----------------------------------------------------------------------------

    def _load(self, client: str, user_ext_id: str) -> tuple[User, TempStrongPassword]:
        user = self.get_user(client, user_ext_id)
        credential = self._attached_credential_or_none(user)
        if credential is None:
            raise NotFound(f"User {user_ext_id!r} has no TSP credential.")
        return user, credential

    def _attached_credential_or_none(self, user: User) -> TempStrongPassword | None:
        if user.credential_id is None:
            return None
        credential = self.store.get_or_none(user.credential_id)
        if not isinstance(credential, TempStrongPassword) or credential.deleted:
            return None
        return credential

    def _sealed_delivery(
        self,
        policy: TempStrongPasswordPolicy,
        password: GeneratedPassword,
        user: User,
        credential_ext_id: str,
        version: int,
    ) -> dict[str, str] | None:
        method = policy.sending_method
        if method is SendingMethod.NONE:
            return None
        if method is SendingMethod.EMAIL and not user.email:
            raise MissingDeliveryAddress("The policy sends by Email but the user has no email.")
        if method is SendingMethod.SMS and not user.mobile:
            raise MissingDeliveryAddress("The policy sends by SMS but the user has no mobile.")
        if self._sealer is None:
            raise DeliveryNotConfigured("No delivery public key is configured.")
        secret = password.fragment1 if policy.plain_value_exposed_to_caller else password.whole
        envelope = self._sealer.seal(
            {
                "secret": secret,
                "clientExtId": user.client_ext_id,
                "userExtId": user.ext_id,
                "credentialExtId": credential_ext_id,
                "version": version,
                "sendingMethod": method.value,
                "loginId": user.login_id,
                "email": user.email,
                "mobile": user.mobile,
                "language": user.language,
            }
        )
        return {**envelope, "sendingMethod": method.value}

    def _replay(self, scope: str | None, now: datetime) -> CredentialOutcome | None:
        if scope is None:
            return None
        record = self.store.get_or_none(IdempotencyRecord.create_id(scope))
        if not isinstance(record, IdempotencyRecord) or not record.is_live(now):
            return None
        credential: TempStrongPassword = self.store.repository.get(
            record.credential_id, version=record.credential_version
        )
        return CredentialOutcome(credential, has_body=record.has_body, replayed=True)

    def _record_outcome(
        self, scope: str | None, outcome: CredentialOutcome, now: datetime
    ) -> IdempotencyRecord | None:
        if scope is None:
            return None
        values: dict[str, Any] = {
            "credential_id": outcome.credential.id,
            "credential_version": outcome.credential.version,
            "has_body": outcome.has_body,
            "expires_at": now + IDEMPOTENCY_WINDOW,
        }
        record = self.store.get_or_none(IdempotencyRecord.create_id(scope))
        if isinstance(record, IdempotencyRecord):
            record.record_again(**values)
            return record
        return IdempotencyRecord(scope=scope, **values)

    def _save(self, *aggregates: Aggregate | None) -> None:
        check_deadline()
        self.store.save(*aggregates)

    def _with_retries(self, attempt: Callable[[], T]) -> T:
        for _ in range(MAX_ATTEMPTS):
            try:
                return attempt()
            except IntegrityError:
                continue
        raise Conflict("Too many concurrent changes; try again.")
