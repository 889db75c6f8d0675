"""Member tokens (the customer page's QR code): signed, short-lived, one merchant's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cagnotte import errors
from cagnotte.security.member_tokens import (
    MEMBER_TOKEN_LIFETIME,
    issue_member_token,
    read_member_token,
)

KEY = b"k" * 32
MERCHANT = uuid.UUID(int=1)
MEMBER = uuid.UUID(int=2)
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_a_token_names_its_member_until_it_expires():
    token, expires_at = issue_member_token(KEY, MERCHANT, MEMBER, NOW)
    assert expires_at == NOW + MEMBER_TOKEN_LIFETIME
    assert read_member_token(KEY, MERCHANT, token, NOW + timedelta(seconds=119)) == MEMBER
    with pytest.raises(errors.MemberTokenInvalid):
        read_member_token(KEY, MERCHANT, token, expires_at)


def test_a_token_of_another_merchant_or_key_or_altered_is_refused():
    token, _ = issue_member_token(KEY, MERCHANT, MEMBER, NOW)
    for key, merchant, text in (
        (KEY, uuid.UUID(int=3), token),
        (b"x" * 32, MERCHANT, token),
        (KEY, MERCHANT, token[:-2] + ("AA" if token[-2:] != "AA" else "BB")),
        (KEY, MERCHANT, "cgm1.!!!"),
        (KEY, MERCHANT, "nonsense"),
    ):
        with pytest.raises(errors.MemberTokenInvalid):
            read_member_token(key, merchant, text, NOW)
