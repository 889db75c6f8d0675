"""Bonus codes: ten characters from `secrets`, stored as keyed hashes."""

from __future__ import annotations

import hashlib
import secrets

CODE_LENGTH = 10
# Upper-case letters and digits without the look-alikes 0/O, 1/I/L: 31 symbols,
# so a code carries 10 × log2(31) ≈ 49.5 bits.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LAST_CHARACTERS_SHOWN = 3


def new_codes(count: int) -> list[str]:
    """`count` distinct random codes, independent of each other."""
    alphabet = CODE_ALPHABET.encode()
    # Random bytes past the last whole multiple of the alphabet's size are
    # dropped, so every symbol is equally likely; the rest map onto the alphabet.
    limit = 256 - 256 % len(alphabet)
    too_high = bytes(range(limit, 256))
    to_symbol = bytes(alphabet[value % len(alphabet)] for value in range(256))
    codes: set[str] = set()
    while len(codes) < count:
        needed = (count - len(codes)) * CODE_LENGTH
        pool = secrets.token_bytes(needed + needed // 8 + 64)
        symbols = pool.translate(None, too_high).translate(to_symbol).decode()
        for start in range(0, len(symbols) - CODE_LENGTH + 1, CODE_LENGTH):
            codes.add(symbols[start : start + CODE_LENGTH])
            if len(codes) == count:
                break
    return list(codes)


def normalise_code(text: str) -> str | None:
    """What a customer typed, as a code: upper case, no spaces or dashes; None if not one."""
    code = "".join(ch for ch in text.upper() if ch not in " -\t")
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def code_hash(key: bytes, code: str) -> bytes:
    """The keyed hash a code is stored and looked up by (BLAKE2b with the platform key)."""
    return hashlib.blake2b(code.encode(), key=key, digest_size=32).digest()


def masked(last_characters: str) -> str:
    return "•" * (CODE_LENGTH - len(last_characters)) + last_characters
