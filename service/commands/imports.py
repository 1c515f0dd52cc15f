"""`tempstrong import`: users another system holds (and their TSP credentials) brought in as the
API would have written them: the same aggregates and events, a data key per person, the person's
values sealed to it, through the same mapper and the same group commit.

Two halves, so the work runs at database speed: `ImportPreparer` turns a line's user into the
events and the wrapped key of its save (pure CPU: domain, sealing, transcoding; the import runs
it in worker processes), and `write_prepared` stores a batch of those with one existence query
and the group commit (the database's work, in one process).

One line is one save (the user, the credential, the person's key): never half-written. A user
that exists already (live or deleted) is left alone, so running a file again changes nothing
and an interrupted import resumes where it stopped. Nothing goes out of band: an imported
credential keeps the hash it had, or gets one nobody knows (the user is then reset).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError, Mapper, StoredEvent

from ..domain.catalog import PolicyCatalog
from ..domain.credential import NEW, CarriedOver, TempStrongPassword
from ..domain.errors import DomainError, ValidationFailed
from ..domain.password import PasswordHasher, is_stored_hash
from ..domain.states import CredentialState
from ..domain.user import User
from ..eventstore.port import KeyChanges
from ..privacy.keyring import Keyring
from .outcomes import UserProfile
from .users import sealed_user_values

IMPORTER = "tempstrong import"  # who acted, in the events


@dataclass(frozen=True)
class ImportedCredential:
    ext_id: str | None = None
    policy_ext_id: str | None = None
    state_name: CredentialState | None = None
    carried_over: CarriedOver = NEW
    password_hash: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ImportedUser:
    line: int
    ext_id: str
    profile: UserProfile
    credential: ImportedCredential | None = None


IMPORTED = "imported"
EXISTED = "existed"


@dataclass(frozen=True)
class LineResult:
    line: int
    outcome: str  # IMPORTED, EXISTED, or why the line was not imported

    @property
    def failed(self) -> bool:
        return self.outcome not in (IMPORTED, EXISTED)


@dataclass(frozen=True)
class PreparedUser:
    """One line's save, ready to store: what a worker process hands the writer."""

    line: int
    ext_id: str
    user_id: UUID
    events: Sequence[StoredEvent] = field(repr=False)
    keys: KeyChanges = field(repr=False)
    # the credential's id when the line named its extId (which must not be in use yet)
    named_credential: tuple[str, UUID] | None = None


Prepared = PreparedUser | LineResult  # a line refused while preparing is already a result


class ImportPreparer:
    def __init__(
        self,
        catalog: PolicyCatalog,
        hasher: PasswordHasher,
        keyring: Keyring,
        mapper: Mapper[UUID],
        clock: Callable[[], datetime],
    ) -> None:
        self._catalog = catalog
        self._hasher = hasher
        self._keyring = keyring
        self._mapper = mapper
        self._clock = clock

    def prepare(self, client: str, user: ImportedUser) -> Prepared:
        try:
            self._catalog.require_client(client)
            aggregates, keys, named = self._build(client, user)
        except DomainError as refused:
            return LineResult(user.line, refused.message)
        events = [
            self._mapper.to_stored_event(event)
            for aggregate in aggregates
            for event in aggregate.collect_events()
        ]
        return PreparedUser(user.line, user.ext_id, aggregates[0].id, events, keys, named)

    def _build(
        self, client: str, user: ImportedUser
    ) -> tuple[list[User | TempStrongPassword], KeyChanges, tuple[str, UUID] | None]:
        user_id = User.create_id(client, user.ext_id)
        _, wrapped, values = sealed_user_values(self._keyring, user_id, user.profile)
        person = User(client_ext_id=client, ext_id=user.ext_id, **values)
        aggregates: list[User | TempStrongPassword] = [person]
        named = None
        if user.credential is not None:
            credential = self._credential(client, user, user.credential)
            person.attach_credential(credential.id)
            aggregates.append(credential)
            if user.credential.ext_id is not None:
                named = (user.credential.ext_id, credential.id)
        return aggregates, KeyChanges(new=[wrapped]), named

    def _credential(
        self, client: str, user: ImportedUser, given: ImportedCredential
    ) -> TempStrongPassword:
        policy = (
            self._catalog.allowed_policy(client, given.policy_ext_id)
            if given.policy_ext_id
            else self._catalog.default_policy(client)
        )
        password_hash = given.password_hash
        if password_hash is None:  # a hash nobody can match: the user is reset to log in
            password_hash = self._hasher.hash(secrets.token_urlsafe(32), policy.hash_algorithm)
        elif not is_stored_hash(password_hash):
            raise ValidationFailed("hash must be {SSHA256}... or {HMAC-SHA256}..., with its prefix")
        return TempStrongPassword.create(
            client_ext_id=client,
            user_ext_id=user.ext_id,
            ext_id=given.ext_id or str(uuid4()),
            policy=policy,
            state_name=given.state_name,
            password_hash=password_hash,
            delivery=None,  # nothing goes out of band: the credential keeps its password
            actor=IMPORTER,
            now=self._clock(),
            carried_over=given.carried_over,
        )


class PreparedStore(Protocol):
    async def existing(self, aggregate_ids: Sequence[UUID]) -> set[UUID]: ...

    async def append(self, events: Sequence[StoredEvent], keys: KeyChanges) -> None:
        """Stores events mapped elsewhere, with their key changes, in one transaction."""


async def write_prepared(
    store: PreparedStore, batch: Sequence[Prepared], *, stop_on_error: bool = False
) -> list[LineResult]:
    """One result per line, in order. The batch costs one existence query and one save (every
    line's events and key in one transaction); should another writer have written one of its
    users meanwhile, its lines are saved one by one to tell which. With `stop_on_error`,
    nothing after the first refused line is written (and it ends the results)."""
    prepared = [p for p in batch if isinstance(p, PreparedUser)]
    existing = await store.existing(
        [
            *(p.user_id for p in prepared),
            *(p.named_credential[1] for p in prepared if p.named_credential),
        ]
    )
    results: list[LineResult] = []
    to_write: list[tuple[int, PreparedUser]] = []
    users_seen: dict[UUID, int] = {}
    credentials_seen: dict[UUID, int] = {}
    for line in batch:
        result = line if isinstance(line, LineResult) else None
        if isinstance(line, PreparedUser):
            result = _refusal(line, existing, users_seen, credentials_seen)
            if result is None:
                to_write.append((len(results), line))
                result = LineResult(line.line, IMPORTED)
        assert result is not None
        results.append(result)
        if stop_on_error and result.failed:
            break
    if not to_write:
        return results
    try:
        await store.append(
            [event for _, line in to_write for event in line.events],
            KeyChanges(new=[key for _, line in to_write for key in line.keys.new]),
        )
    except IntegrityError:  # another import of the same users, meanwhile
        for index, line in to_write:
            try:
                await store.append(line.events, line.keys)
            except IntegrityError:
                results[index] = LineResult(line.line, EXISTED)
    return results


def _refusal(
    line: PreparedUser,
    existing: set[UUID],
    users_seen: dict[UUID, int],
    credentials_seen: dict[UUID, int],
) -> LineResult | None:
    """Why the line is not written (EXISTED is no refusal), or None to write it."""
    if line.user_id in existing:
        return LineResult(line.line, EXISTED)
    if line.user_id in users_seen:
        return LineResult(line.line, f"user {line.ext_id} is on line {users_seen[line.user_id]}")
    if line.named_credential is not None:
        ext_id, credential_id = line.named_credential
        if credential_id in existing:
            return LineResult(line.line, f"credential extId {ext_id} is in use")
        if credential_id in credentials_seen:
            earlier = credentials_seen[credential_id]
            return LineResult(line.line, f"credential extId {ext_id} is on line {earlier}")
        credentials_seen[credential_id] = line.line
    users_seen[line.user_id] = line.line
    return None
