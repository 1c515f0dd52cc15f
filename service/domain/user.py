"""The minimal user directory: one aggregate per (client, user extId)."""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .errors import AlreadyExists
from .ids import NAMESPACE_TEMPSTRONG


class User(Aggregate):
    class Event(Aggregate.Event):
        class_version = 1

    @staticmethod
    def create_id(client_ext_id: str, ext_id: str) -> UUID:
        return uuid5(NAMESPACE_TEMPSTRONG, f"user/{client_ext_id}/{ext_id}")

    @event("UserCreated")
    def __init__(
        self,
        client_ext_id: str,
        ext_id: str,
        login_id: str | None,
        email: str | None,
        mobile: str | None,
        language: str | None,
    ) -> None:
        self.client_ext_id = client_ext_id
        self.ext_id = ext_id
        self._set_profile(login_id, email, mobile, language)
        self.credential_id: UUID | None = None
        self.deleted = False

    def register_again(
        self, login_id: str | None, email: str | None, mobile: str | None, language: str | None
    ) -> None:
        """A user extId can be registered again once the user was deleted."""
        if not self.deleted:
            raise AlreadyExists(f"User {self.ext_id!r} already exists.")
        self._registered_again(login_id=login_id, email=email, mobile=mobile, language=language)

    def attach_credential(self, credential_id: UUID) -> None:
        self._credential_attached(credential_id=credential_id)

    def detach_credential(self) -> None:
        self._credential_detached()

    def delete(self) -> None:
        self._deleted()

    @event("UserRegisteredAgain")
    def _registered_again(
        self, login_id: str | None, email: str | None, mobile: str | None, language: str | None
    ) -> None:
        self._set_profile(login_id, email, mobile, language)
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

    def _set_profile(
        self, login_id: str | None, email: str | None, mobile: str | None, language: str | None
    ) -> None:
        self.login_id = login_id
        self.email = email
        self.mobile = mobile
        self.language = language
