"""A gift card program, and the one list of the settings a merchant chooses for it.

The `Program` dataclass is that list. Each field a merchant sets carries a
`Setting` in its metadata: whether it may change once cards exist (a control)
or is part of the card format, fixed at creation; its default, when it has one;
and its bounds. From it come the defaults of a new program (`PROGRAM_DEFAULTS`),
the allow-list of a change (`PROGRAM_CONTROLS`) and the API's request and
answer models (api/schemas/gift_cards.py). The table's columns are the same
list once more, in the database; a test holds the two together.
"""

from __future__ import annotations

import dataclasses
import typing
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import NoneType, UnionType
from typing import Any

from cagnotte.programs.gift_cards.numbers import NUMBER_LENGTH_MAX, NUMBER_LENGTH_MIN

PIN_LENGTH_MIN = 4
PIN_LENGTH_MAX = 8
NUMBER_PREFIX_PATTERN = r"^[0-9]{0,12}$"
EXPIRY_MONTHS_MAX = 120
PIN_ATTEMPTS_MAX = 20
PIN_LOCKOUT_MINUTES_MAX = 365 * 24 * 60
OPERATIONS_PER_CARD_PER_DAY_MAX = 1_000_000
AUTHORISATION_MINUTES_MAX = 7 * 24 * 60
PROFILE_BONUS_MAX_MINOR = 10**12


@dataclass(frozen=True, slots=True)
class Setting:
    """How a merchant sets one field of a program (kept in the field's metadata)."""

    # A control may change while cards exist; the card format may not.
    changeable: bool
    minimum: int | None = None
    maximum: int | None = None
    # An amount of minor units: above zero, at most money.AMOUNT_MINOR_MAX.
    amount: bool = False
    pattern: str | None = None


def _format(default: Any = dataclasses.MISSING, **bounds: Any) -> Any:
    return field(default=default, metadata={"setting": Setting(changeable=False, **bounds)})


def _control(default: Any = dataclasses.MISSING, **bounds: Any) -> Any:
    return field(default=default, metadata={"setting": Setting(changeable=True, **bounds)})


@dataclass(frozen=True, slots=True, kw_only=True)
class Program:
    """A merchant's gift card program: its card format and its controls."""

    merchant_id: uuid.UUID
    id: uuid.UUID
    name: str
    asset_code: str
    status: str
    # Card numbers: `number_length` digits, starting with `number_prefix`, the
    # last one a Luhn check digit when `number_luhn`.
    number_length: int = _format(16, minimum=NUMBER_LENGTH_MIN, maximum=NUMBER_LENGTH_MAX)
    number_prefix: str = _format("", pattern=NUMBER_PREFIX_PATTERN)
    number_luhn: bool = _format(True)
    pin_required: bool = _format(True)
    pin_length: int = _format(4, minimum=PIN_LENGTH_MIN, maximum=PIN_LENGTH_MAX)
    reloadable: bool = _control(True)
    load_min_minor: int = _control(amount=True)
    load_max_minor: int = _control(amount=True)
    balance_max_minor: int = _control(amount=True)
    # None: cards never expire; else what is left breaks N months after activation.
    expiry_months: int | None = _control(None, minimum=1, maximum=EXPIRY_MONTHS_MAX)
    pin_attempts_max: int = _control(3, minimum=1, maximum=PIN_ATTEMPTS_MAX)
    pin_lockout_minutes: int = _control(30, minimum=1, maximum=PIN_LOCKOUT_MINUTES_MAX)
    invoice_required: bool = _control(False)
    # Limits per card and UTC day, and per operation; None means no limit.
    loads_per_card_per_day_max: int | None = _control(
        None, minimum=1, maximum=OPERATIONS_PER_CARD_PER_DAY_MAX
    )
    spends_per_card_per_day_max: int | None = _control(
        None, minimum=1, maximum=OPERATIONS_PER_CARD_PER_DAY_MAX
    )
    load_amount_per_card_per_day_max_minor: int | None = _control(None, amount=True)
    spend_amount_per_card_per_day_max_minor: int | None = _control(None, amount=True)
    operation_amount_max_minor: int | None = _control(None, amount=True)
    authorisation_minutes: int = _control(60, minimum=1, maximum=AUTHORISATION_MINUTES_MAX)
    # Credited once per member and program when a registered member's profile is complete.
    profile_bonus_minor: int = _control(0, minimum=0, maximum=PROFILE_BONUS_MAX_MINOR)
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Program:
        return cls(**{name: row[name] for name in PROGRAM_FIELDS})

    @property
    def pin_lockout(self) -> timedelta:
        return timedelta(minutes=self.pin_lockout_minutes)

    @property
    def has_daily_limits(self) -> bool:
        return any(getattr(self, name) is not None for name in DAILY_LIMITS)


@dataclass(frozen=True, slots=True)
class ProgramSetting:
    """One setting of the list: its name, how it is set, its type and its default."""

    name: str
    setting: Setting
    # int, bool or str; `nullable` when None is a value (no limit, never).
    value_type: type
    nullable: bool
    # dataclasses.MISSING when a new program must name it.
    default: Any

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING


def _settings() -> tuple[ProgramSetting, ...]:
    hints = typing.get_type_hints(Program)
    settings = []
    for program_field in dataclasses.fields(Program):
        setting = program_field.metadata.get("setting")
        if setting is None:
            continue
        hint = hints[program_field.name]
        kinds = typing.get_args(hint) if isinstance(hint, UnionType) else (hint,)
        value_types = [kind for kind in kinds if kind is not NoneType]
        assert len(value_types) == 1 and value_types[0] in (int, bool, str), program_field.name
        settings.append(
            ProgramSetting(
                name=program_field.name,
                setting=setting,
                value_type=value_types[0],
                nullable=NoneType in kinds,
                default=program_field.default,
            )
        )
    return tuple(settings)


PROGRAM_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Program))
# What a merchant chooses, in the order of the dataclass: the card format, then the controls.
PROGRAM_SETTINGS: tuple[ProgramSetting, ...] = _settings()
# A new program's values for the settings it does not name.
PROGRAM_DEFAULTS: dict[str, Any] = {
    setting.name: setting.default for setting in PROGRAM_SETTINGS if not setting.required
}
# What a change of a program may touch.
PROGRAM_CONTROLS: frozenset[str] = frozenset(
    setting.name for setting in PROGRAM_SETTINGS if setting.setting.changeable
)
DAILY_LIMITS = (
    "loads_per_card_per_day_max",
    "spends_per_card_per_day_max",
    "load_amount_per_card_per_day_max_minor",
    "spend_amount_per_card_per_day_max_minor",
)
