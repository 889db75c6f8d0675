"""Webhook signatures, the Standard Webhooks scheme (as Svix and others sign).

A delivery carries three headers: `webhook-id` (the event's id, the same on
every retry and re-send, so a receiver can drop what it has seen),
`webhook-timestamp` (Unix seconds of this attempt, so a receiver can refuse an
old replay) and `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of
`"{id}.{timestamp}.{body}"` under the endpoint's secret. The secret is shown as
`whsec_` and the base64 of its 32 random bytes; the bytes are the HMAC key.
HMAC is the standard library's; nothing here is home-made cryptography.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"


def new_secret() -> str:
    """A fresh signing secret, as it is shown to the merchant once."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    assert secret.startswith(SECRET_PREFIX), "not a webhook secret"
    return base64.b64decode(secret[len(SECRET_PREFIX) :])


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header of one delivery."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify(secret: str, message_id: str, timestamp: int, body: bytes, header: str) -> bool:
    """Whether one of the header's space-separated signatures is this delivery's."""
    expected = sign(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in header.split())
