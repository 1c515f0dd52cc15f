"""Aggregate ids derive from natural keys, so uniqueness is enforced by the event store itself."""

from uuid import UUID, uuid5

NAMESPACE_TEMPSTRONG = UUID("6f1c2a52-8d0e-4a55-9a56-0c6f3e1d7b21")


def event_id(originator_id: UUID, originator_version: int) -> UUID:
    """A stable UUID per stored event (CloudEvents `id`): the same on every re-publish."""
    return uuid5(NAMESPACE_TEMPSTRONG, f"event/{originator_id}/{originator_version}")
