"""A merchant's locale: its country, its default language and its time zone.

The country is the region phone numbers are read in (a Québec merchant's
`514 555 0100` is `+15145550100`); the time zone says when the merchant's day
and month begin (the caps of its promotions and its cards' daily limits count
in local days); the locale (a Babel / BCP 47 name such as `cs_CZ`, `fr_CA`)
says how its mails and pages write money and dates. `LocaleFormat` does the
writing, and `install_filters` gives the templates its `money`, `date` and
`moment` filters, which use the `locale_format` of the page they render.

Errors: unknown_country, unknown_locale, unknown_time_zone.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import format_date, format_datetime, format_time
from babel.languages import get_official_languages
from babel.numbers import format_currency, format_decimal
from jinja2 import Environment, pass_context
from sqlalchemy import Connection, select

from cagnotte import errors
from cagnotte.db.tables import merchants

# What a merchant made before it had a locale of its own gets, and what the
# platform's own mails and pages (the sign-in code, the customer's page before
# a merchant is chosen) fall back to: the platform's home, as the seeds have it.
DEFAULT_COUNTRY = "CZ"
DEFAULT_LOCALE = "cs_CZ"
DEFAULT_TIME_ZONE = "Europe/Prague"


@lru_cache(maxsize=64)
def zone(name: str) -> tzinfo:
    """The IANA zone of this name (read once per process from the tz database)."""
    return ZoneInfo(name)


def check_country(code: str) -> str:
    """An ISO 3166-1 alpha-2 code, in capitals, that phone numbers know (unknown_country)."""
    country = code.strip().upper()
    if country not in phonenumbers.SUPPORTED_REGIONS:
        raise errors.UnknownCountry(f"{code!r} is not an ISO 3166-1 alpha-2 country code.")
    return country


# A language, then a script, a region or a variant: no POSIX names (`C`), no modifiers.
_LOCALE_NAME = re.compile(r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})*")


def check_locale(name: str) -> str:
    """The Babel name (`fr_CA`) of a locale written `fr_CA` or `fr-CA` (unknown_locale)."""
    written = name.strip().replace("-", "_")
    try:
        if not _LOCALE_NAME.fullmatch(written):
            raise ValueError(written)
        locale = Locale.parse(written)
    except (UnknownLocaleError, ValueError, TypeError):
        raise errors.UnknownLocale(f"{name!r} is not a locale Babel knows.") from None
    if locale.language != written.split("_")[0].lower():
        # Babel reads 'und' (undetermined) and the like as another language.
        raise errors.UnknownLocale(f"{name!r} is not a locale Babel knows.")
    return str(locale)


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    # 'localtime' (the host's own zone, a link some systems list) and 'Factory' name no place.
    return frozenset(available_timezones()) - {"localtime", "Factory"}


def check_time_zone(name: str) -> str:
    """An IANA time zone name such as `America/Montreal` (unknown_time_zone).

    Only the names of the tz database: not the files beside them in its folder
    (`localtime`, `posixrules`, `right/…`).
    """
    if name.strip() not in _zone_names():
        raise errors.UnknownTimeZone(f"{name!r} is not an IANA time zone.")
    return name.strip()


# The zone of a country with several when the operator names none: the most
# populous one's (Montréal's and Toronto's for Canada).
MAIN_ZONES = {
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "ES": "Europe/Madrid",
    "PT": "Europe/Lisbon",
    "US": "America/New_York",
}


def locale_of_country(country: str) -> str:
    """The locale of the country's first official language ('CA' → 'en_CA')."""
    for language in get_official_languages(country, de_facto=True):
        try:
            return check_locale(f"{language}_{country}")
        except errors.UnknownLocale:
            continue
    return check_locale("en")


def zone_of_country(country: str) -> str:
    """The country's time zone, when it has one or a main one (unknown_time_zone otherwise)."""
    zones = get_global("territory_zones").get(country, [])
    if len(zones) == 1:
        return zones[0]
    if country in MAIN_ZONES:
        return MAIN_ZONES[country]
    raise errors.UnknownTimeZone(f"{country} has several time zones: name the merchant's.")


@dataclass(frozen=True, slots=True)
class MerchantLocale:
    """Where a merchant is: its country, its default locale and its time zone."""

    country: str = DEFAULT_COUNTRY
    locale: str = DEFAULT_LOCALE
    time_zone: str = DEFAULT_TIME_ZONE

    def local_date(self, moment: datetime) -> date:
        """The merchant's calendar day at `moment` (an aware datetime)."""
        assert moment.tzinfo is not None, "moments are timezone-aware"
        return moment.astimezone(zone(self.time_zone)).date()

    @property
    def format(self) -> LocaleFormat:
        return LocaleFormat(self.locale, self.time_zone)


PLATFORM_LOCALE = MerchantLocale()


def merchant_locale(connection: Connection, merchant_id: uuid.UUID) -> MerchantLocale:
    """The merchant's locale (one primary-key read); the platform's for no such merchant."""
    row = connection.execute(
        select(merchants.c.country, merchants.c.locale, merchants.c.time_zone).where(
            merchants.c.id == merchant_id
        )
    ).first()
    if row is None:
        return PLATFORM_LOCALE
    return MerchantLocale(row.country, row.locale, row.time_zone)


@dataclass(frozen=True, slots=True)
class LocaleFormat:
    """Writes money, dates and moments for one locale, moments in one time zone."""

    locale: str = DEFAULT_LOCALE
    time_zone: str = DEFAULT_TIME_ZONE

    def money(self, amount_minor: int, asset_code: str, scale: int = 2) -> str:
        """'1 234,50 Kč' (cs_CZ), '$1,234.50' (en_CA); a merchant's unit as '120 POINTS'."""
        amount = Decimal(amount_minor).scaleb(-scale)
        if len(asset_code) == 3 and asset_code.isalpha() and asset_code.isupper():
            return format_currency(amount, asset_code, locale=self.locale)
        number = format_decimal(amount, format=_decimal_pattern(scale), locale=self.locale)
        return f"{number}\N{NO-BREAK SPACE}{asset_code}"

    def date(self, day: date) -> str:
        """A calendar day, the locale's medium way ('5. 1. 2026', 'Jan 5, 2026')."""
        return format_date(day, format="medium", locale=self.locale)

    def moment(self, moment: datetime) -> str:
        """A moment in the merchant's zone, the locale's medium way, with the zone's name."""
        assert moment.tzinfo is not None, "moments are timezone-aware"
        local = moment.astimezone(zone(self.time_zone))
        # The locale's way of joining a medium date and a short time ('{1}, {0}').
        joined = str(Locale.parse(self.locale).datetime_formats["medium"])
        written = joined.replace("{1}", format_date(local, "medium", locale=self.locale)).replace(
            "{0}", format_time(local, "short", locale=self.locale)
        )
        return f"{written} {format_datetime(local, 'zzz', locale=self.locale)}"

    def asset(self, code: str, scale: int) -> WrittenAsset:
        """An asset that writes its amounts this way (what the pages' views hold)."""
        return WrittenAsset(code, scale, self)


@dataclass(frozen=True, slots=True)
class WrittenAsset:
    """An asset (a code and a scale) whose `format` writes amounts for one locale."""

    code: str
    scale: int
    written: LocaleFormat

    def format(self, amount_minor: int) -> str:
        return self.written.money(amount_minor, self.code, self.scale)


def _decimal_pattern(scale: int) -> str:
    return "#,##0" + ("." + "0" * scale if scale else "")


def negotiate(accept_language: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The locale a browser asks for first (Accept-Language) that Babel knows, else `default`."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip()
        if not tag or tag == "*" or len(tag) > 35:
            continue
        try:
            return check_locale(tag)
        except errors.UnknownLocale:
            continue
    return default


def _format_of(context: Any) -> LocaleFormat:
    found = context.get("locale_format")
    return found if isinstance(found, LocaleFormat) else PLATFORM_LOCALE.format


@pass_context
def _money_filter(context: Any, amount_minor: int, asset_code: str, scale: int = 2) -> str:
    return _format_of(context).money(amount_minor, asset_code, scale)


@pass_context
def _date_filter(context: Any, day: date) -> str:
    return _format_of(context).date(day)


@pass_context
def _moment_filter(context: Any, moment: datetime) -> str:
    return _format_of(context).moment(moment)


def install_filters(environment: Environment) -> None:
    """`{{ amount | money(code, scale) }}`, `{{ day | date }}`, `{{ moment | moment }}`:
    written for the page's `locale_format` (the platform's when it has none)."""
    environment.filters["money"] = _money_filter
    environment.filters["date"] = _date_filter
    environment.filters["moment"] = _moment_filter
