"""Drawing codes: a set that meets another campaign's code is drawn again."""

from __future__ import annotations

from cagnotte.programs.bonus_codes import funding
from cagnotte.programs.bonus_codes.codes import new_codes
from tests.e2e.bonus_codes.conftest import codes_from_mail, pay_by_bank, request_campaign


def test_a_code_drawn_twice_across_campaigns_is_drawn_again(
    client, merchant, operator_key, clock, mailer, funded_campaign, monkeypatch
):
    _campaign, taken = funded_campaign
    draws = []

    def draw(count):
        # The first draw repeats a code of the funded campaign; the next is random.
        codes = [taken[0], *new_codes(count - 1)] if not draws else new_codes(count)
        draws.append(codes)
        return codes

    monkeypatch.setattr(funding, "new_codes", draw)
    second = request_campaign(client, merchant, clock, name="Summer bonus")
    paid = pay_by_bank(client, operator_key, 100_000, second["funding"]["variable_symbol"])
    assert paid.status_code == 201, paid.text
    assert len(draws) == 2
    codes = codes_from_mail(mailer)
    assert sorted(codes) == sorted(draws[1]) and taken[0] not in codes
    funded = client.get(f"/v1/bonus-campaigns/{second['id']}", headers=merchant.owner).json()
    assert funded["status"] == "active" and funded["report"]["codes_issued"] == 5
