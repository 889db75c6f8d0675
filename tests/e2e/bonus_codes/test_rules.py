"""The bonus rules as pure functions: splits, the attempt policies, stored answers."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from cagnotte import errors
from cagnotte.programs.bonus_codes.campaigns import (
    CampaignFunding,
    CampaignView,
    campaign_report,
)
from cagnotte.programs.bonus_codes.funding import split_payment
from cagnotte.programs.bonus_codes.redemption import (
    ADDRESS_POLICY,
    CUSTOMER_POLICY,
    require_redeemable,
)
from cagnotte.programs.bonus_codes.rows import BonusCode, Campaign, as_json, from_json

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def known_captcha():
    """No database here: this module's tests need none of the package's fixtures."""


def a_campaign(**changes) -> Campaign:
    campaign = Campaign(
        merchant_id=uuid.uuid4(),
        id=uuid.uuid4(),
        name="Spring bonus",
        description="",
        asset_code="CZK",
        bonus_value_minor=20_000,
        code_count=5,
        funding_required_minor=100_000,
        valid_from=NOW - timedelta(days=1),
        valid_to=NOW + timedelta(days=30),
        rest_destination="business_account",
        bank_account=None,
        variable_symbol="1234567890",
        notify_email=None,
        status="awaiting_funding",
        escrow_account_id=uuid.uuid4(),
        requested_by="key:x",
        rest_minor=None,
        created_at=NOW,
        funded_at=None,
        stopped_at=None,
        settled_at=None,
    )
    return replace(campaign, **changes)


def a_code(campaign: Campaign, **changes) -> BonusCode:
    code = BonusCode(
        code_hash=b"\x01" * 32,
        merchant_id=campaign.merchant_id,
        campaign_id=campaign.id,
        last_characters="XYZ",
        redeemed_at=None,
        redeemed_by=None,
        transfer_id=None,
    )
    return replace(code, **changes)


def test_a_payment_goes_to_the_campaign_up_to_what_it_still_needs():
    split = split_payment(a_campaign(), funded_minor=60_000, amount_minor=50_000)
    assert (split.to_campaign_minor, split.to_business_minor) == (40_000, 10_000)
    assert split.completes_funding


def test_a_payment_short_of_the_rest_does_not_complete_the_funds():
    split = split_payment(a_campaign(), funded_minor=0, amount_minor=60_000)
    assert (split.to_campaign_minor, split.to_business_minor) == (60_000, 0)
    assert not split.completes_funding


@pytest.mark.parametrize("status", ["active", "stopped", "settled", "cancelled"])
def test_a_payment_for_a_campaign_not_waiting_for_funds_goes_whole_to_the_business(status):
    split = split_payment(a_campaign(status=status), funded_minor=100_000, amount_minor=7_000)
    assert (split.to_campaign_minor, split.to_business_minor) == (0, 7_000)
    assert not split.completes_funding


def test_five_attempts_a_day_lock_a_customer_for_a_day_and_twenty_an_hour_an_address():
    # Seed 000: "blocked for 24 hours after 5 attempts of entering wrong code".
    assert (CUSTOMER_POLICY.attempts, CUSTOMER_POLICY.window, CUSTOMER_POLICY.lock) == (
        5,
        timedelta(hours=24),
        timedelta(hours=24),
    )
    assert (ADDRESS_POLICY.attempts, ADDRESS_POLICY.window, ADDRESS_POLICY.lock) == (
        20,
        timedelta(hours=1),
        timedelta(hours=1),
    )


def test_unknown_used_and_withdrawn_codes_are_one_and_the_same_refusal():
    active = a_campaign(status="active")
    for code, campaign in [
        (None, None),
        (a_code(active, redeemed_at=NOW), active),
        (a_code(active), replace(active, status="stopped")),
        (a_code(active), None),
    ]:
        with pytest.raises(errors.CodeInvalid):
            require_redeemable(code, campaign, NOW)
    assert require_redeemable(a_code(active), active, NOW) is active


def test_a_code_outside_its_validity_is_refused_with_the_message_of_a_wrong_code():
    active = a_campaign(status="active", valid_from=NOW + timedelta(hours=1))
    with pytest.raises(errors.CodeInvalid) as early:
        require_redeemable(a_code(active), active, NOW)
    # The end of the validity is not part of it.
    ended = a_campaign(status="active", valid_to=NOW)
    with pytest.raises(errors.CodeInvalid) as late:
        require_redeemable(a_code(ended), ended, NOW)
    with pytest.raises(errors.CodeInvalid) as wrong:
        require_redeemable(None, None, NOW)
    assert early.value.message == late.value.message == wrong.value.message
    assert early.value.details == late.value.details == wrong.value.details == {}


def test_a_campaign_view_comes_back_whole_from_its_stored_answer():
    campaign = a_campaign(status="settled", rest_minor=60_000, settled_at=NOW)
    view = CampaignView(
        campaign=campaign,
        funding=CampaignFunding(100_000, 100_000, 0, "0000000000/0000", campaign.variable_symbol),
        escrow_balance_minor=0,
        report=campaign_report(campaign, codes_issued=5, codes_redeemed=2),
        plain_codes_available=False,
    )
    assert view.report.codes_expired == 3 and view.report.refunded_minor == 60_000
    assert from_json(CampaignView, as_json(view)) == view
    code = a_code(campaign, redeemed_at=NOW, redeemed_by=uuid.uuid4())
    assert from_json(BonusCode, as_json(code)) == code
