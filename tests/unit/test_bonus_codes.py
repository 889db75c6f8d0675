"""Bonus codes: generation from `secrets`, what a customer may type, the keyed hash."""

from __future__ import annotations

from collections import Counter

import pytest

from cagnotte.programs.bonus_codes.codes import (
    CODE_ALPHABET,
    CODE_LENGTH,
    code_hash,
    masked,
    new_codes,
    normalise_code,
)


def test_the_alphabet_has_31_symbols_and_none_of_the_look_alikes():
    assert len(CODE_ALPHABET) == len(set(CODE_ALPHABET)) == 31
    assert not set("0O1IL") & set(CODE_ALPHABET)
    assert CODE_ALPHABET.upper() == CODE_ALPHABET


def test_a_batch_has_as_many_distinct_codes_as_asked_all_of_the_alphabet():
    codes = new_codes(500)

    assert len(codes) == len(set(codes)) == 500
    for code in codes:
        assert len(code) == CODE_LENGTH == 10
        assert set(code) <= set(CODE_ALPHABET)


def test_an_empty_batch_and_a_batch_of_one():
    assert new_codes(0) == []
    [code] = new_codes(1)
    assert normalise_code(code) == code


def test_two_batches_do_not_repeat_each_other():
    assert not set(new_codes(200)) & set(new_codes(200))


def test_every_symbol_is_about_as_likely_as_any_other():
    # 2 000 codes are 20 000 symbols: about 645 of each. Dropping the bytes past
    # 248 keeps the mapping even; a modulo bias would make 8 symbols 1/31 likelier,
    # which this loose bound does not claim to see, but a missing symbol or a
    # symbol drawn twice as often it does.
    counts = Counter("".join(new_codes(2000)))

    assert set(counts) == set(CODE_ALPHABET)
    assert all(400 < count < 900 for count in counts.values()), counts


@pytest.mark.parametrize(
    "typed",
    ["ABCDEFGHJK", "abcdefghjk", "ABCD-EFGH-JK", "abc defg hjk", "ABCDE\tFGHJK", " ABCDEFGHJK "],
)
def test_a_code_is_read_in_any_case_with_spaces_dashes_and_tabs_dropped(typed):
    assert normalise_code(typed) == "ABCDEFGHJK"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "ABCDEFGHJ",  # nine characters
        "ABCDEFGHJKM",  # eleven
        "ABCDEFGHJ0",  # a zero, never in a code
        "ABCDEFGHJO",  # nor the letter O
        "ABCDEFGHJ1",
        "ABCDEFGHJI",
        "ABCDEFGHJL",
        "ABCDEFGHJ_",
        "ABCDEFGHJÉ",
    ],
)
def test_what_cannot_be_a_code_is_none(typed):
    assert normalise_code(typed) is None


def test_a_code_is_hashed_by_keyed_blake2b_so_stored_hashes_stay_valid():
    digest = code_hash(b"platform key", "ABCDEFGHJK")

    assert len(digest) == 32
    assert digest.hex() == "9601c729a417d95782df5987828aa99ff66ea15fa01037c5f3021db1acd71920"


def test_the_hash_depends_on_the_key_and_on_every_character():
    digest = code_hash(b"platform key", "ABCDEFGHJK")

    assert code_hash(b"platform key", "ABCDEFGHJK") == digest
    assert code_hash(b"another key", "ABCDEFGHJK") != digest
    assert code_hash(b"platform key", "ABCDEFGHJM") != digest


def test_a_masked_code_shows_only_its_last_characters():
    assert masked("XYZ") == "•••••••XYZ"
    assert masked("") == "•" * CODE_LENGTH
    assert len(masked("ABCDEFGHJK")) == CODE_LENGTH
