"""Bonus campaigns tell the merchant's webhook endpoints: funded, a code redeemed, settled."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.e2e.api.test_webhooks import Receiver, register_endpoint
from tests.e2e.bonus_codes.conftest import codes_from_mail, pay_by_bank, redeem, request_campaign


def test_a_campaign_funded_redeemed_and_settled_is_told(
    client, services, merchant, operator_key, clock, mailer, customer
):
    receiver = Receiver()
    try:
        register_endpoint(client, merchant, receiver.url)
        campaign = request_campaign(client, merchant, clock)
        paid = pay_by_bank(client, operator_key, 100_000, campaign["funding"]["variable_symbol"])
        assert paid.status_code == 201, paid.text
        code = codes_from_mail(mailer)[0]
        clock.advance(timedelta(seconds=1))
        assert redeem(client, customer, code).status_code == 201
        clock.advance(timedelta(days=31))
        assert services.bonus_codes.settle_due_campaigns() == 1
        services.outbox.deliver_due()
        told = sorted(
            (json.loads(body) for _, body in receiver.requests), key=lambda e: e["timestamp"]
        )
        assert [e["type"] for e in told] == [
            "campaign.funded",
            "bonus_code.redeemed",
            "campaign.settled",
        ]
        assert {e["data"]["campaign_id"] for e in told} == {campaign["id"]}
        assert told[1]["data"]["amount_minor"] == 20_000
        assert told[2]["data"]["returned_minor"] == 100_000 - 20_000
        assert all(code not in json.dumps(e) for e in told)
    finally:
        receiver.close()
