"""Bonus codes: ten characters from `secrets`, stored as keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

CODE_LENGTH = 10
# Upper-case letters and digits without the look-alikes 0/O, 1/I/L: 31 symbols,
# so a code carries 10 × log2(31) ≈ 49.5 bits.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LAST_CHARACTERS_SHOWN = 3


def new_codes(count: int) -> list[str]:
    """`count` distinct random codes, independent of each other."""
    codes: set[str] = set()
    alphabet = CODE_ALPHABET
    # One random byte per character, rejecting bytes past the last whole multiple
    # of the alphabet's size, so every symbol is equally likely.
    limit = 256 - 256 % len(alphabet)
    while len(codes) < count:
        needed = (count - len(codes)) * CODE_LENGTH
        pool = [b for b in secrets.token_bytes(needed + needed // 4 + 16) if b < limit]
        for start in range(0, len(pool) - CODE_LENGTH + 1, CODE_LENGTH):
            chunk = pool[start : start + CODE_LENGTH]
            codes.add("".join(alphabet[b % len(alphabet)] for b in chunk))
            if len(codes) == count:
                break
    return list(codes)


def normalise_code(text: str) -> str | None:
    """What a customer typed, as a code: upper case, no spaces or dashes; None if not one."""
    code = "".join(ch for ch in text.upper() if ch not in " -\t")
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def code_hash(key: bytes, code: str) -> str:
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


def masked(last_characters: str) -> str:
    return "•" * (CODE_LENGTH - len(last_characters)) + last_characters
