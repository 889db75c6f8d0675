"""The transactional outbox: messages written with the work, delivered by the jobs (`service`)."""

from cagnotte.outbox.service import (
    ClaimedMessage,
    Delivered,
    MessageKind,
    MessageState,
    Outbox,
    PermanentFailure,
)

__all__ = [
    "ClaimedMessage",
    "Delivered",
    "MessageKind",
    "MessageState",
    "Outbox",
    "PermanentFailure",
]
