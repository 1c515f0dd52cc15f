"""The minimal user directory: one aggregate per (client, user extId).

A person's `loginId`, `email` and `mobile` are personal data: the aggregate holds them only as
`Encrypted` values under the person's own data key (`data_key_id`; domain/personal.py). Erasing
the person destroys that key and records `UserErased`: the events stay and decode, the personal
fields no longer open. A deleted user's extId can be registered again, as a new person with a
new key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .errors import AlreadyExists
from .ids import NAMESPACE_TEMPSTRONG
from .personal import PersonalValue


class User(Aggregate):
    class Event(Aggregate.Event):
        class_version = 1

    # version 2 holds `data_key_id` (snapshots taken before it get None)
    class_version = 2
    login_id: PersonalValue
    email: PersonalValue
    mobile: PersonalValue
    language: str | None
    data_key_id: UUID | None

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["data_key_id"] = None

    class UserCreated(Aggregate.Created):
        """Version 2 names the person's data key; version 1 stored the profile in the clear
        (until `tempstrong migrate` rewrote it)."""

        class_version = 2
        client_ext_id: str
        ext_id: str
        login_id: PersonalValue
        email: PersonalValue
        mobile: PersonalValue
        language: str | None
        data_key_id: UUID | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["data_key_id"] = None

    class UserRegisteredAgain(Event):
        class_version = 2
        login_id: PersonalValue
        email: PersonalValue
        mobile: PersonalValue
        language: str | None
        data_key_id: UUID | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["data_key_id"] = None

    @staticmethod
    def create_id(client_ext_id: str, ext_id: str) -> UUID:
        return uuid5(NAMESPACE_TEMPSTRONG, f"user/{client_ext_id}/{ext_id}")

    @event("UserCreated")
    def __init__(
        self,
        client_ext_id: str,
        ext_id: str,
        login_id: PersonalValue,
        email: PersonalValue,
        mobile: PersonalValue,
        language: str | None,
        data_key_id: UUID | None,
    ) -> None:
        self.client_ext_id = client_ext_id
        self.ext_id = ext_id
        self._set_profile(login_id, email, mobile, language, data_key_id)
        self.credential_id: UUID | None = None
        self.deleted = False

    def register_again(
        self,
        login_id: PersonalValue,
        email: PersonalValue,
        mobile: PersonalValue,
        language: str | None,
        data_key_id: UUID | None,
    ) -> None:
        """A user extId can be registered again once the user was deleted."""
        if not self.deleted:
            raise AlreadyExists(f"User {self.ext_id!r} already exists.")
        self._registered_again(
            login_id=login_id,
            email=email,
            mobile=mobile,
            language=language,
            data_key_id=data_key_id,
        )

    def attach_credential(self, credential_id: UUID) -> None:
        self._credential_attached(credential_id=credential_id)

    def detach_credential(self) -> None:
        self._credential_detached()

    def delete(self) -> None:
        self._deleted()

    def erase(self, key_ids: Sequence[UUID], *, actor: str | None, reason: str) -> None:
        """Records that the data keys `key_ids` (this user's, present or earlier registrations)
        were destroyed: the personal fields they sealed no longer open."""
        self._erased(
            client_ext_id=self.client_ext_id,
            ext_id=self.ext_id,
            key_ids=list(key_ids),
            actor=actor,
            reason=reason,
        )

    @event(UserRegisteredAgain)
    def _registered_again(
        self,
        login_id: PersonalValue,
        email: PersonalValue,
        mobile: PersonalValue,
        language: str | None,
        data_key_id: UUID | None,
    ) -> None:
        self._set_profile(login_id, email, mobile, language, data_key_id)
        self.credential_id = None
        self.deleted = False

    @event("CredentialAttached")
    def _credential_attached(self, credential_id: UUID) -> None:
        self.credential_id = credential_id

    @event("CredentialDetached")
    def _credential_detached(self) -> None:
        self.credential_id = None

    @event("UserDeleted")
    def _deleted(self) -> None:
        self.deleted = True
        self.credential_id = None

    @event("UserErased")
    def _erased(
        self,
        client_ext_id: str,
        ext_id: str,
        key_ids: list[UUID],
        actor: str | None,
        reason: str,
    ) -> None:
        if self.data_key_id is None or self.data_key_id in key_ids:
            self.login_id = self.email = self.mobile = None
            self.data_key_id = None

    def _set_profile(
        self,
        login_id: PersonalValue,
        email: PersonalValue,
        mobile: PersonalValue,
        language: str | None,
        data_key_id: UUID | None,
    ) -> None:
        self.login_id = login_id
        self.email = email
        self.mobile = mobile
        self.language = language
        self.data_key_id = data_key_id
