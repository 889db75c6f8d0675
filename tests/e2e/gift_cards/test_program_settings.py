"""A program's settings are listed once (the Program dataclass); the rest follows from it."""

from __future__ import annotations

import types
import typing

from cagnotte.api.schemas.gift_cards import ProgramChange, ProgramCreate, ProgramOut
from cagnotte.programs.gift_cards.program import (
    PROGRAM_CONTROLS,
    PROGRAM_DEFAULTS,
    PROGRAM_FIELDS,
    PROGRAM_SETTINGS,
    Program,
)
from cagnotte.programs.gift_cards.tables import gift_card_programs
from tests.e2e.gift_cards.conftest import PROGRAM, create_program


def test_the_program_and_its_table_have_the_same_fields_and_nulls():
    assert list(PROGRAM_FIELDS) == [column.name for column in gift_card_programs.columns]
    hints = typing.get_type_hints(Program)
    for name in PROGRAM_FIELDS:
        optional = types.NoneType in typing.get_args(hints[name])
        assert optional == gift_card_programs.c[name].nullable, name


def test_the_api_bodies_follow_the_settings():
    settings = {setting.name for setting in PROGRAM_SETTINGS}
    assert set(ProgramChange.model_fields) == PROGRAM_CONTROLS
    assert set(ProgramCreate.model_fields) == settings | {"name", "asset"}
    required = {name for name, field in ProgramCreate.model_fields.items() if field.is_required()}
    assert required == {"name", "asset", "load_min_minor", "load_max_minor", "balance_max_minor"}
    assert set(ProgramOut.model_fields) == set(PROGRAM_FIELDS) - {"asset_code"} | {"asset"}


def test_a_new_program_takes_the_default_of_every_setting_it_does_not_name(client, merchant):
    program = create_program(client, merchant)
    for name, default in PROGRAM_DEFAULTS.items():
        assert program[name] == PROGRAM.get(name, default), name


def test_the_card_format_is_no_control():
    card_format = {"number_length", "number_prefix", "number_luhn", "pin_required", "pin_length"}
    assert not card_format & PROGRAM_CONTROLS
    assert card_format | PROGRAM_CONTROLS == {setting.name for setting in PROGRAM_SETTINGS}
