"""Money and moments written for a merchant's locale and zone (Babel), and what is checked."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from jinja2 import Environment

from cagnotte import errors, i18n
from cagnotte.i18n import LocaleFormat, MerchantLocale

NBSP = "\N{NO-BREAK SPACE}"
NNBSP = "\N{NARROW NO-BREAK SPACE}"


@pytest.mark.parametrize(
    ("locale", "currency", "written"),
    [
        ("cs_CZ", "CZK", f"1{NBSP}234,50{NBSP}Kč"),
        ("en_CA", "CAD", "$1,234.50"),
        ("fr_CA", "CAD", f"1{NBSP}234,50{NBSP}$"),
        ("fr_FR", "EUR", f"1{NNBSP}234,50{NBSP}€"),
    ],
)
def test_an_amount_is_written_the_locale_s_way(locale, currency, written):
    assert LocaleFormat(locale).money(123_450, currency) == written


def test_a_merchant_s_own_unit_is_written_with_its_code_and_scale():
    assert LocaleFormat("cs_CZ").money(1_250, "POINTS", 0) == f"1{NBSP}250{NBSP}POINTS"
    assert LocaleFormat("en_CA").money(-5, "CAD") == "-$0.05"


def test_a_moment_is_written_in_the_merchant_s_zone():
    moment = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)
    assert LocaleFormat("cs_CZ", "Europe/Prague").moment(moment) == "6. 1. 2026 0:30 SEČ"
    early = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
    assert LocaleFormat("fr_CA", "America/Montreal").moment(early) == "5 janv. 2026, 22 h 00 HNE"
    assert LocaleFormat("en_CA").date(date(2026, 1, 5)) == "Jan 5, 2026"


def test_the_merchant_s_day_is_its_local_day():
    prague = MerchantLocale("CZ", "cs_CZ", "Europe/Prague")
    montreal = MerchantLocale("CA", "fr_CA", "America/Montreal")
    assert prague.local_date(datetime(2026, 1, 5, 23, 30, tzinfo=UTC)) == date(2026, 1, 6)
    assert montreal.local_date(datetime(2026, 1, 6, 3, 0, tzinfo=UTC)) == date(2026, 1, 5)


def test_names_are_checked_and_written_one_way():
    assert i18n.check_locale("fr-CA") == "fr_CA"
    assert i18n.check_country(" ca ") == "CA"
    assert i18n.check_time_zone("America/Montreal") == "America/Montreal"
    for check, bad, error in (
        (i18n.check_locale, "klingon", errors.UnknownLocale),
        (i18n.check_country, "ZZ", errors.UnknownCountry),
        (i18n.check_time_zone, "Europe/Atlantis", errors.UnknownTimeZone),
        (i18n.check_time_zone, "/etc/passwd", errors.UnknownTimeZone),
        (i18n.check_time_zone, "localtime", errors.UnknownTimeZone),
        (i18n.check_time_zone, "posixrules", errors.UnknownTimeZone),
        (i18n.check_time_zone, "right/UTC", errors.UnknownTimeZone),
        (i18n.check_locale, "C", errors.UnknownLocale),
        (i18n.check_locale, "und", errors.UnknownLocale),
        (i18n.check_locale, "en@euro", errors.UnknownLocale),
    ):
        with pytest.raises(error):
            check(bad)


def test_the_browser_s_first_known_language_is_taken():
    assert i18n.negotiate("fr-CA,fr;q=0.9,en;q=0.8") == "fr_CA"
    assert i18n.negotiate("xx-XX, en-CA;q=0.5") == "en_CA"
    assert i18n.negotiate(None) == "cs_CZ"
    assert i18n.negotiate("*") == "cs_CZ"


def test_the_template_filters_write_for_the_page_s_locale():
    environment = Environment()
    i18n.install_filters(environment)
    template = environment.from_string("{{ amount | money('CAD') }} {{ at | moment }}")
    page = template.render(
        amount=123_450,
        at=datetime(2026, 1, 6, 3, 0, tzinfo=UTC),
        locale_format=LocaleFormat("en_CA", "America/Toronto"),
    )
    assert page == f"$1,234.50 Jan 5, 2026, 10:00{NNBSP}p.m. EST"
