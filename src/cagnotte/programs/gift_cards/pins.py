"""PINs, hashed with argon2id, sized for a PIN rather than a password.

A 4-digit PIN has 10,000 values: no hash cost makes an offline search of the
PIN alone slow. What protects it is (1) the PIN is hashed together with the
card number, which is random and stored only as a keyed hash, so an offline
search must also guess 10^8 or more numbers per card; and (2) online, the
program's lockout stops guessing after a few wrong PINs. The argon2 cost is
therefore set low (about 3 ms on one core instead of the password hasher's
~150 ms), which keeps a spend at the register fast; a two-phase spend checks
the PIN once, at authorisation, and the capture does not check it again.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

PIN_HASH_TIME_COST = 1
PIN_HASH_MEMORY_KIB = 8192
PIN_HASH_PARALLELISM = 1

_hasher = PasswordHasher(
    time_cost=PIN_HASH_TIME_COST,
    memory_cost=PIN_HASH_MEMORY_KIB,
    parallelism=PIN_HASH_PARALLELISM,
)


def _secret(number: str, pin: str) -> str:
    return f"{number}:{pin}"


def hash_pin(number: str, pin: str) -> str:
    return _hasher.hash(_secret(number, pin))


def verify_pin(pin_hash: str | None, number: str, pin: str) -> bool:
    """True when the PIN is right; a missing hash costs one check all the same."""
    try:
        return _hasher.verify(pin_hash or _DUMMY_HASH, _secret(number, pin)) and (
            pin_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def burn_pin_check() -> None:
    """Spend the time of one PIN check, so timing does not tell a known card from an unknown."""
    verify_pin(None, "0", "0")


_DUMMY_HASH = _hasher.hash(_secret("no card", "no pin"))
