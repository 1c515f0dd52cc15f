"""Commands and queries of the TSP service: load aggregates, let them decide, save, retry."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from .contracts.envelope import SealedDelivery, seal_delivery
from .domain.catalog import PolicyCatalog
from .domain.credential import TempStrongPassword
from .domain.errors import AlreadyExists, Conflict, DeliveryNotConfigured, NotFound
from .domain.idempotency import IDEMPOTENCY_WINDOW, IdempotencyRecord
from .domain.out_of_band import PasswordSplit, check_delivery_address, split_password
from .domain.password import PasswordHasher, generate_password
from .domain.states import CredentialState
from .domain.user import User
from .eventstore.port import AggregateStore
from .sealing import Sealer

MAX_ATTEMPTS = 8

T = TypeVar("T")


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


def utc_now() -> datetime:
    return datetime.now(UTC)


class CredentialService:
    def __init__(
        self,
        store: AggregateStore,
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

    async def register_user(self, client: str, ext_id: str, profile: UserProfile) -> User:
        self.catalog.default_policy(client)  # unknown client -> 404

        async def attempt() -> User:
            user = await self.store.get_or_none(User.create_id(client, ext_id))
            if isinstance(user, User):
                user.register_again(**vars(profile))
            else:
                user = User(client_ext_id=client, ext_id=ext_id, **vars(profile))
            await self._save(user)
            return user

        return await self._with_retries(attempt)

    async def get_user(self, client: str, ext_id: str) -> User:
        self.catalog.default_policy(client)
        user = await self.store.get_or_none(User.create_id(client, ext_id))
        if not isinstance(user, User) or user.deleted:
            raise NotFound(f"User {ext_id!r} does not exist.")
        return user

    async def delete_user(self, client: str, ext_id: str, actor: str | None) -> None:
        async def attempt() -> None:
            user = await self.get_user(client, ext_id)
            credential = await self._attached_credential_or_none(user)
            if credential is not None:
                credential.delete(actor=actor)
            user.delete()
            await self._save(user, credential)

        await self._with_retries(attempt)

    # -- credential commands -----------------------------------------------------------------

    async def create_credential(
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

        async def attempt() -> CredentialOutcome:
            now = self._clock()
            record = await self._idempotency_record(idempotency_scope)
            if record is not None and record.is_live(now):
                return await self._replay(record, client, user_ext_id)
            user = await self.get_user(client, user_ext_id)
            if user.credential_id is not None:
                raise AlreadyExists(f"User {user_ext_id!r} already has a TSP credential.")
            if await self.store.get_or_none(TempStrongPassword.create_id(client, new_ext_id)):
                raise AlreadyExists(f"Credential extId {new_ext_id!r} is already in use.")
            policy = (
                self.catalog.allowed_policy(client, policy_ext_id)
                if policy_ext_id
                else self.catalog.default_policy(client)
            )
            split = split_password(policy, generate_password(policy))
            credential = TempStrongPassword.create(
                client_ext_id=client,
                user_ext_id=user_ext_id,
                ext_id=new_ext_id,
                policy=policy,
                state_name=state_name,
                password_hash=self._hasher.hash(split.whole, policy.hash_algorithm),
                delivery=self._sealed_delivery(split, user, new_ext_id, version=1),
                actor=actor,
                now=now,
            )
            user.attach_credential(credential.id)
            outcome = CredentialOutcome.of(credential, split)
            await self._save(
                user, credential, self._record_outcome(idempotency_scope, record, outcome, now)
            )
            return outcome

        return await self._with_retries(attempt)

    async def reset_credential(
        self, client: str, user_ext_id: str, *, actor: str | None, idempotency_scope: str | None
    ) -> CredentialOutcome:
        async def attempt() -> CredentialOutcome:
            now = self._clock()
            record = await self._idempotency_record(idempotency_scope)
            if record is not None and record.is_live(now):
                return await self._replay(record, client, user_ext_id)
            user, credential = await self._load(client, user_ext_id)
            policy = self.catalog.policy_in_effect(credential.policy_ext_id)
            split = split_password(policy, generate_password(policy))
            delivery = self._sealed_delivery(
                split, user, credential.ext_id, version=credential.version + 1
            )
            credential.reset(
                policy=policy,
                password_hash=self._hasher.hash(split.whole, policy.hash_algorithm),
                delivery=delivery,
                actor=actor,
                now=now,
            )
            outcome = CredentialOutcome.of(credential, split)
            await self._save(
                credential, self._record_outcome(idempotency_scope, record, outcome, now)
            )
            return outcome

        return await self._with_retries(attempt)

    async def modify_credential(
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
        _, credential = await self._load(client, user_ext_id)
        credential.modify(
            expected_version=expected_version,
            state_name=state_name,
            new_policy=(
                self.catalog.allowed_policy(client, policy_ext_id) if policy_ext_id else None
            ),
            modification_comment=modification_comment,
            actor=actor,
            now=self._clock(),
        )
        try:
            await self._save(credential)
        except IntegrityError:
            raise Conflict("The credential was modified concurrently.") from None
        return credential

    async def delete_credential(self, client: str, user_ext_id: str, actor: str | None) -> None:
        async def attempt() -> None:
            user, credential = await self._load(client, user_ext_id)
            credential.delete(actor=actor)
            user.detach_credential()
            await self._save(user, credential)

        await self._with_retries(attempt)

    async def verify(self, client: str, user_ext_id: str, password: str) -> bool:
        """True if the password matched; LoginSucceeded or LoginFailed is saved either way."""

        async def attempt() -> bool:
            _, credential = await self._load(client, user_ext_id)
            matched = credential.verify(
                password_matches=lambda stored: self._hasher.verify(password, stored),
                policy=self.catalog.policy_in_effect(credential.policy_ext_id),
                now=self._clock(),
            )
            await self._save(credential)
            return matched

        return await self._with_retries(attempt)

    # -- queries -----------------------------------------------------------------------------

    async def get_credential(self, client: str, user_ext_id: str) -> TempStrongPassword:
        return (await self._load(client, user_ext_id))[1]

    async def credential_events(self, client: str, user_ext_id: str) -> list[Any]:
        credential = await self.get_credential(client, user_ext_id)
        return list(await self.store.events_of(credential.id))

    def now(self) -> datetime:
        return self._clock()

    # -- helpers -----------------------------------------------------------------------------

    async def _load(self, client: str, user_ext_id: str) -> tuple[User, TempStrongPassword]:
        user = await self.get_user(client, user_ext_id)
        credential = await self._attached_credential_or_none(user)
        if credential is None:
            raise NotFound(f"User {user_ext_id!r} has no TSP credential.")
        return user, credential

    async def _attached_credential_or_none(self, user: User) -> TempStrongPassword | None:
        if user.credential_id is None:
            return None
        credential = await self.store.get_or_none(user.credential_id)
        if not isinstance(credential, TempStrongPassword) or credential.deleted:
            return None
        return credential

    def _sealed_delivery(
        self, split: PasswordSplit, user: User, credential_ext_id: str, version: int
    ) -> dict[str, str] | None:
        if split.out_of_band is None:
            return None
        check_delivery_address(split.method, user)
        if self._sealer is None:
            raise DeliveryNotConfigured("No delivery public key is configured.")
        delivery = SealedDelivery(
            secret=split.out_of_band,
            client_ext_id=user.client_ext_id,
            user_ext_id=user.ext_id,
            credential_ext_id=credential_ext_id,
            version=version,
            sending_method=split.method,
            login_id=user.login_id,
            email=user.email,
            mobile=user.mobile,
            language=user.language,
        )
        return seal_delivery(self._sealer, delivery).to_event_attribute()

    async def _idempotency_record(self, scope: str | None) -> IdempotencyRecord | None:
        if scope is None:
            return None
        record = await self.store.get_or_none(IdempotencyRecord.create_id(scope))
        return record if isinstance(record, IdempotencyRecord) else None

    async def _replay(
        self, record: IdempotencyRecord, client: str, user_ext_id: str
    ) -> CredentialOutcome:
        """The first outcome again, while its credential still exists (else 404)."""
        _, current = await self._load(client, user_ext_id)
        if current.id != record.credential_id:
            raise NotFound(f"User {user_ext_id!r} has no TSP credential.")
        credential = await self.store.get_at(record.credential_id, record.credential_version)
        assert isinstance(credential, TempStrongPassword)
        return CredentialOutcome(credential, has_body=record.has_body, replayed=True)

    @staticmethod
    def _record_outcome(
        scope: str | None,
        record: IdempotencyRecord | None,
        outcome: CredentialOutcome,
        now: datetime,
    ) -> IdempotencyRecord | None:
        """The record saved with the command's event, at the version the command read.

        Two requests with one key (any processes) both read the record at the same version, so
        both saves name the same next version of it: the event store lets one commit, the other
        conflicts, retries and replays. The record is read once per attempt for that reason.
        """
        if scope is None:
            return None
        values: dict[str, Any] = {
            "credential_id": outcome.credential.id,
            "credential_version": outcome.credential.version,
            "has_body": outcome.has_body,
            "expires_at": now + IDEMPOTENCY_WINDOW,
        }
        if record is None:
            return IdempotencyRecord(scope=scope, **values)
        record.record_again(**values)  # the window of the earlier outcome has passed
        return record

    async def _save(self, *aggregates: Aggregate | None) -> None:
        # the store refuses to start a save past the request's deadline (a 503 commits nothing)
        await self.store.save(*aggregates)

    async def _with_retries(self, attempt: Callable[[], Awaitable[T]]) -> T:
        for _ in range(MAX_ATTEMPTS):
            try:
                return await attempt()
            except IntegrityError:
                continue
        raise Conflict("Too many concurrent changes; try again.")
