"""Member tokens: what the customer page shows as a QR code for the register to scan.

A token names one membership and ends soon (MEMBER_TOKEN_LIFETIME), so a
screenshot of it is of no use for long; it is signed with a platform key
(HMAC-SHA256 from the standard library), so nobody can make one for another
member. It is checked in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta

from cagnotte import errors

MEMBER_TOKEN_LIFETIME = timedelta(minutes=2)
_PREFIX = "cgm1"


def issue_member_token(
    key: bytes, merchant_id: uuid.UUID, membership_id: uuid.UUID, now: datetime
) -> tuple[str, datetime]:
    """A token for this membership, and when it stops being accepted."""
    expires_at = now + MEMBER_TOKEN_LIFETIME
    payload = merchant_id.bytes + membership_id.bytes + int(expires_at.timestamp()).to_bytes(8)
    signature = hmac.new(key, payload, hashlib.sha256).digest()[:16]
    token = base64.urlsafe_b64encode(payload + signature).decode().rstrip("=")
    return f"{_PREFIX}.{token}", expires_at


def read_member_token(key: bytes, merchant_id: uuid.UUID, token: str, now: datetime) -> uuid.UUID:
    """The membership a token names; member_token_invalid when forged, expired or another's."""
    prefix, _, body = token.partition(".")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (ValueError, UnicodeEncodeError):
        raise errors.MemberTokenInvalid() from None
    if prefix != _PREFIX or len(raw) != 56:
        raise errors.MemberTokenInvalid()
    payload, signature = raw[:40], raw[40:]
    expected = hmac.new(key, payload, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(signature, expected):
        raise errors.MemberTokenInvalid()
    expires_at = datetime.fromtimestamp(int.from_bytes(payload[32:40]), UTC)
    if uuid.UUID(bytes=payload[:16]) != merchant_id or now >= expires_at:
        raise errors.MemberTokenInvalid()
    return uuid.UUID(bytes=payload[16:32])
