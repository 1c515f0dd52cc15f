"""The commands of the Temporary Strong Password credential aggregate."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from eventsourcing.persistence import IntegrityError

from ..domain.credential import TempStrongPassword
from ..domain.errors import AlreadyExists, Conflict
from ..domain.out_of_band import PasswordSplit, split_password
from ..domain.password import PasswordHasher, generate_password
from ..domain.personal import CREDENTIAL_TEXT_FIELDS
from ..domain.states import CredentialState
from ..domain.user import User
from ..eventstore.port import StoreUnavailable
from ..privacy.personal_data import NOTHING, PersonalData, Revealer
from .aggregates import Aggregates, with_retries
from .idempotency import IdempotencyRecords, IdempotentRequest
from .out_of_band import OutOfBand
from .outcomes import CredentialOutcome, CredentialView


class CredentialCommands:
    def __init__(
        self,
        aggregates: Aggregates,
        hasher: PasswordHasher,
        out_of_band: OutOfBand,
        personal: PersonalData,
        clock: Callable[[], datetime],
    ) -> None:
        self._aggregates = aggregates
        self._personal = personal
        self._catalog = aggregates.catalog
        self._hasher = hasher
        self._out_of_band = out_of_band
        self._idempotency = IdempotencyRecords(aggregates)
        self._clock = clock

    async def create(
        self,
        client: str,
        user_ext_id: str,
        *,
        ext_id: str | None,
        policy_ext_id: str | None,
        state_name: CredentialState | None,
        actor: str | None,
        idempotency: IdempotentRequest | None = None,
    ) -> CredentialOutcome:
        new_ext_id = ext_id or str(uuid.uuid4())

        async def attempt(fresh: bool) -> CredentialOutcome:
            now = self._clock()
            earlier = await self._idempotency.earlier(idempotency, now, client, user_ext_id)
            if earlier.replay is not None:
                return await self._with_revealer(earlier.replay, client, user_ext_id)
            user = await self._aggregates.user(client, user_ext_id, fresh)
            if user.credential_id is not None:
                raise AlreadyExists(f"User {user_ext_id!r} already has a TSP credential.")
            if await self._aggregates.exists(TempStrongPassword.create_id(client, new_ext_id)):
                raise AlreadyExists(f"Credential extId {new_ext_id!r} is already in use.")
            policy = (
                self._catalog.allowed_policy(client, policy_ext_id)
                if policy_ext_id
                else self._catalog.default_policy(client)
            )
            split = split_password(policy, generate_password(policy))
            credential = TempStrongPassword.create(
                client_ext_id=client,
                user_ext_id=user_ext_id,
                ext_id=new_ext_id,
                policy=policy,
                state_name=state_name,
                password_hash=self._hasher.hash(split.whole, policy.hash_algorithm),
                delivery=self._out_of_band.seal(split, user, new_ext_id, version=1),
                actor=actor,
                now=now,
            )
            user.attach_credential(credential.id)
            outcome = CredentialOutcome.of(credential, split, NOTHING)  # no free text yet
            await self._aggregates.save(
                user, credential, self._idempotency.record(idempotency, earlier, outcome, now)
            )
            return outcome

        return await with_retries(attempt)

    async def reset(
        self,
        client: str,
        user_ext_id: str,
        *,
        actor: str | None,
        idempotency: IdempotentRequest | None,
    ) -> CredentialOutcome:
        async def attempt(fresh: bool) -> CredentialOutcome:
            now = self._clock()
            earlier = await self._idempotency.earlier(idempotency, now, client, user_ext_id)
            if earlier.replay is not None:
                return await self._with_revealer(earlier.replay, client, user_ext_id)
            user, credential = await self._aggregates.user_and_credential(
                client, user_ext_id, fresh
            )
            split = self.reset_loaded(user, credential, actor=actor, now=now)
            revealer = await self._revealer(user, credential)
            outcome = CredentialOutcome.of(credential, split, revealer)
            await self._aggregates.save(
                credential,
                self._idempotency.record(idempotency, earlier, outcome, now),
                unchanged=(user,),  # its addresses were sealed: it must still be that user
            )
            return outcome

        return await with_retries(attempt)

    def reset_loaded(
        self, user: User, credential: TempStrongPassword, *, actor: str | None, now: datetime
    ) -> PasswordSplit:
        """Resets a loaded credential in memory (its Reset event pending, nothing saved): a new
        password, its hash, the out-of-band part sealed. `reset` saves it at once; a caller that
        resets many (the scale benchmark's seeding) saves them in batches."""
        policy = self._catalog.policy_in_effect(credential.policy_ext_id)
        split = split_password(policy, generate_password(policy))
        credential.reset(
            policy=policy,
            password_hash=self._hasher.hash(split.whole, policy.hash_algorithm),
            delivery=self._out_of_band.seal(
                split, user, credential.ext_id, version=credential.version + 1
            ),
            actor=actor,
            now=now,
        )
        return split

    async def modify(
        self,
        client: str,
        user_ext_id: str,
        *,
        expected_version: int,
        state_name: CredentialState | None,
        policy_ext_id: str | None,
        modification_comment: str | None,
        actor: str | None,
    ) -> CredentialView:
        # No retry: a stale version is the caller's to resolve (409).
        user, credential = await self._aggregates.user_and_credential(client, user_ext_id)
        key = await self._personal.live_key(user)
        comment = None
        if modification_comment is not None:
            if key is None:  # a user stored before data keys, until `tempstrong migrate`
                raise StoreUnavailable("The user has no data key: run `tempstrong migrate`.")
            comment = key.seal(modification_comment, credential.id, "modification_comment")
        credential.modify(
            expected_version=expected_version,
            state_name=state_name,
            new_policy=(
                self._catalog.allowed_policy(client, policy_ext_id) if policy_ext_id else None
            ),
            modification_comment=comment,
            actor=actor,
            now=self._clock(),
        )
        try:
            # a comment sealed to the user's key needs that user to be still the same
            await self._aggregates.save(credential, unchanged=(user,) if comment else ())
        except IntegrityError:
            raise Conflict("The credential was modified concurrently.") from None
        return CredentialView(credential, Revealer(key))

    async def _revealer(self, user: User, credential: TempStrongPassword) -> Revealer:
        """What opens the free text about the credential (its user's key), for the answer; no
        key is needed while there is none."""
        if all(getattr(credential, name) is None for name in CREDENTIAL_TEXT_FIELDS):
            return NOTHING
        return await self._personal.revealer(user)

    async def _with_revealer(
        self, outcome: CredentialOutcome, client: str, user_ext_id: str
    ) -> CredentialOutcome:
        """A replayed outcome, with what opens the free text of the credential it shows."""
        user = await self._aggregates.user(client, user_ext_id)
        return replace(outcome, revealer=await self._revealer(user, outcome.credential))

    async def delete(self, client: str, user_ext_id: str, actor: str | None) -> None:
        async def attempt(fresh: bool) -> None:
            user, credential = await self._aggregates.user_and_credential(
                client, user_ext_id, fresh
            )
            credential.delete(actor=actor)
            user.detach_credential()
            await self._aggregates.save(user, credential)

        await with_retries(attempt)

    async def verify(self, client: str, user_ext_id: str, password: str) -> bool:
        """True if the password matched; LoginSucceeded or LoginFailed is saved either way."""

        async def attempt(fresh: bool) -> bool:
            user, credential = await self._aggregates.user_and_credential(
                client, user_ext_id, fresh
            )
            matched = credential.verify(
                password_matches=lambda stored: self._hasher.verify(password, stored),
                policy=self._catalog.policy_in_effect(credential.policy_ext_id),
                now=self._clock(),
            )
            await self._aggregates.save(credential, unchanged=(user,))
            return matched

        return await with_retries(attempt)
