"""Sealing: a secret kept so that only the holder of another secret can read it back.

Two things are sealed this way: an e-card's number, under the token of its page
(only the page's address can show it), and an e-card's number and PIN in the
stored answer of its issue, under the request's Idempotency-Key (only the
caller who retries can have them again). The database keeps the sealed value
and never the secret it is sealed under.

The cipher is AES-256-GCM (`cryptography`): authenticated, so a sealed value
that was changed, or moved onto another row, does not open (`SealBroken`),
rather than opening to garbage. The key is derived from the holder's secret by
HKDF-SHA256 with a `purpose` (so one secret never keys two uses alike), and the
nonce is random for every seal. `context` is authenticated with the value
(never encrypted): the id of the row it belongs to.

HKDF is no password hash: the holder's secret must be unguessable (a page
token of 192 random bits; an Idempotency-Key the client draws at random). A
guessable secret gives a guessable seal to whoever holds a copy of the database.

A sealed value is text: `v2:` and the nonce, ciphertext and tag in base64url.
The prefix names the form, so that a value sealed another way before (see
`gift_cards.numbers`) is still recognised and read.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "v2:"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


class SealBroken(Exception):
    """A sealed value that does not open: a wrong secret, a changed value or context."""


def _key(secret: str, purpose: str) -> bytes:
    assert secret, "nothing to derive a key from"
    return HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=None,
        info=f"cagnotte sealing: {purpose}".encode(),
    ).derive(secret.encode())


def seal(secret: str, purpose: str, plaintext: bytes, *, context: str) -> str:
    """`plaintext` sealed under a key derived from `secret`, bound to `context`."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(_key(secret, purpose)).encrypt(nonce, plaintext, context.encode())
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def is_sealed(value: str) -> bool:
    """Whether `value` is of this module's form (rather than an older one)."""
    return value.startswith(PREFIX)


def unseal(secret: str, purpose: str, value: str, *, context: str) -> bytes:
    """The plaintext of a value `seal` made with the same secret, purpose and context."""
    if not is_sealed(value):
        raise SealBroken("not a sealed value")
    encoded = value[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        raise SealBroken("not a sealed value") from None
    # One text per value: base64's spare bits of the last character must be as written.
    if base64.urlsafe_b64encode(raw).decode().rstrip("=") != encoded:
        raise SealBroken("not a sealed value")
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise SealBroken("too short to be a sealed value")
    nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
    try:
        return AESGCM(_key(secret, purpose)).decrypt(nonce, sealed, context.encode())
    except InvalidTag:
        raise SealBroken("the value does not open with this secret and context") from None
