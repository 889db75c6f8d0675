"""Webhook signatures: the Standard Webhooks scheme, checked against its published example."""

from __future__ import annotations

import pytest

from cagnotte import errors
from cagnotte.clock import ManualClock
from cagnotte.webhooks import signing
from cagnotte.webhooks.service import WebhookService

# The example of the Standard Webhooks specification (standard-webhooks/standard-webhooks,
# spec/standard-webhooks.md): its secret, message id, timestamp, body and signature.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MESSAGE_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_signature_of_the_specifications_example_is_its_published_one():
    assert signing.sign(SECRET, MESSAGE_ID, TIMESTAMP, BODY) == SIGNATURE


def test_a_changed_body_id_or_timestamp_does_not_verify():
    assert signing.verify(SECRET, MESSAGE_ID, TIMESTAMP, BODY, SIGNATURE)
    assert not signing.verify(SECRET, MESSAGE_ID, TIMESTAMP, BODY + b" ", SIGNATURE)
    assert not signing.verify(SECRET, "msg_other", TIMESTAMP, BODY, SIGNATURE)
    assert not signing.verify(SECRET, MESSAGE_ID, TIMESTAMP + 1, BODY, SIGNATURE)


def test_one_of_several_signatures_is_enough_while_a_secret_is_rotated():
    assert signing.verify(SECRET, MESSAGE_ID, TIMESTAMP, BODY, f"v1,bm9wZQ== {SIGNATURE}")


def test_a_new_secret_is_32_random_bytes_in_the_whsec_form():
    first, second = signing.new_secret(), signing.new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(signing._key(first)) == 32


def _service(development: bool) -> WebhookService:
    return WebhookService(None, ManualClock(), development=development)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # not https
        "https://127.0.0.1/x",
        "https://localhost/x",
        "https://10.1.2.3/x",
        "https://192.168.0.10/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://0.0.0.0/x",
    ],
)
def test_in_production_only_https_to_a_public_address_is_taken(url):
    with pytest.raises(errors.WebhookUrlInvalid):
        _service(development=False)._check_url(url)


def test_in_development_http_to_loopback_is_taken():
    _service(development=True)._check_url("http://127.0.0.1:8123/hooks")


def test_a_public_https_address_is_taken_in_production():
    _service(development=False)._check_url("https://93.184.215.14/hooks")
