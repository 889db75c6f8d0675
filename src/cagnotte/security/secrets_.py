"""Random tokens and their stored form.

API keys, session tokens and one-time codes are random and long enough that a
plain SHA-256 of them is a safe stored form (nothing to brute-force); only
passwords and PINs, which people choose or remember, need argon2.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

# Upper-case letters and digits without the look-alikes 0/O, 1/I/L, 5/S, 2/Z, 8/B.
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"


def new_token(prefix: str, nbytes: int = 32) -> str:
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_hash(left: str, right: str) -> bool:
    return hmac.compare_digest(left, right)


def random_code(length: int, alphabet: str = CODE_ALPHABET) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def random_digits(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))
