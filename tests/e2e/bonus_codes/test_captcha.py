"""Captchas: a picture or a clip, counted per customer and per address, used once."""

from __future__ import annotations

import base64
import io
import re
import threading
import uuid
import wave
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from cagnotte import errors
from cagnotte.security.captcha import (
    CAPTCHA_QUOTA_WINDOW,
    CAPTCHAS_PER_ADDRESS_MAX,
    CAPTCHAS_PER_CUSTOMER_MAX,
)
from cagnotte.security.captcha_image import CAPTCHA_IMAGE_HEIGHT, CAPTCHA_IMAGE_WIDTH
from cagnotte.security.tables import captcha_challenges
from tests.e2e.api.concurrency import all_at_once
from tests.e2e.bonus_codes.conftest import (
    CAPTCHA_ANSWER,
    platform_wallet_balance,
    redeem,
    sign_in_customer,
)
from tests.e2e.web.conftest import csrf_of
from tests.e2e.web.conftest import sign_in_customer as sign_in_on_the_page

AUDIO_ANSWER = "482913"


@pytest.fixture(autouse=True)
def known_audio_answer(services):
    services.captchas.make_audio_answer = lambda: AUDIO_ANSWER


def customer_id_of(services, headers) -> uuid.UUID:
    token = headers["Authorization"].removeprefix("Bearer ")
    return services.auth.customer_for_token(token).customer_id


def challenges_of(services, customer_id) -> int:
    with services.database.read() as connection:
        return connection.execute(
            select(func.count())
            .select_from(captcha_challenges)
            .where(captcha_challenges.c.customer_id == customer_id)
        ).scalar_one()


def data_of(data_url: str, media_type: str) -> bytes:
    prefix = f"data:{media_type};base64,"
    assert data_url.startswith(prefix)
    return base64.b64decode(data_url.removeprefix(prefix))


# The picture and the clip ----------------------------------------------------------


def test_a_captcha_is_a_png_picture_of_the_size_the_page_shows(client, customer):
    captcha = client.post("/v1/me/captchas", headers=customer).json()
    assert captcha["kind"] == "image" and captcha["audio"] is None
    png = data_of(captcha["image"], "image/png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    picture = Image.open(io.BytesIO(png))
    assert picture.format == "PNG"
    assert picture.size == (CAPTCHA_IMAGE_WIDTH, CAPTCHA_IMAGE_HEIGHT) == (280, 90)
    # Something is drawn: dark text on a light background, in many colours.
    greys = picture.convert("L").getextrema()
    assert greys[0] < 110 and greys[1] > 200
    assert len(picture.getcolors(maxcolors=100_000)) > 500


def test_the_audio_captcha_is_a_wav_clip_that_redeems_like_the_picture(
    client, customer, funded_campaign
):
    _campaign, codes = funded_campaign
    captcha = client.post("/v1/me/captchas?kind=audio", headers=customer).json()
    assert captcha["kind"] == "audio" and captcha["image"] is None
    with wave.open(io.BytesIO(data_of(captcha["audio"], "audio/wav"))) as clip:
        assert (clip.getnchannels(), clip.getsampwidth(), clip.getframerate()) == (1, 1, 8000)
        assert 5 < clip.getnframes() / clip.getframerate() < 15
    # Digits are often typed with spaces between them.
    redeemed = client.post(
        "/v1/me/bonus-redemptions",
        json={"code": codes[0], "captcha_id": captcha["id"], "captcha_answer": "482 913"},
        headers=customer,
    )
    assert redeemed.status_code == 201, redeemed.text
    assert platform_wallet_balance(client, customer) == 20_000


def test_wrong_codes_through_the_audio_captcha_lock_the_feature_as_through_the_picture(
    client, customer, funded_campaign
):
    _campaign, codes = funded_campaign

    def redeem_by_ear(code: str, answer: str = AUDIO_ANSWER):
        captcha = client.post("/v1/me/captchas?kind=audio", headers=customer).json()
        return client.post(
            "/v1/me/bonus-redemptions",
            json={"code": code, "captcha_id": captcha["id"], "captcha_answer": answer},
            headers=customer,
        )

    assert redeem_by_ear(codes[0], answer="000000").json()["code"] == "captcha_invalid"
    for _ in range(3):
        assert redeem_by_ear("WRONGCODE2").json()["code"] == "code_invalid"
    # Two ways in, one count: the fifth wrong code comes through the picture.
    assert redeem(client, customer, "WRONGCODE2").json()["code"] == "code_invalid"
    assert redeem_by_ear("WRONGCODE2").json()["code"] == "code_invalid"
    locked = redeem_by_ear(codes[0])
    assert locked.status_code == 423 and locked.json()["code"] == "locked_out"
    assert platform_wallet_balance(client, customer) == 0


def test_an_audio_captcha_is_used_once_and_only_by_its_customer(
    client, customer, second_customer, funded_campaign
):
    _campaign, codes = funded_campaign
    captcha = client.post("/v1/me/captchas?kind=audio", headers=customer).json()
    body = {"code": codes[0], "captcha_id": captcha["id"], "captcha_answer": AUDIO_ANSWER}
    other = client.post("/v1/me/bonus-redemptions", json=body, headers=second_customer)
    assert other.json()["code"] == "captcha_invalid"
    assert client.post("/v1/me/bonus-redemptions", json=body, headers=customer).status_code == 201
    again = client.post(
        "/v1/me/bonus-redemptions", json={**body, "code": codes[1]}, headers=customer
    )
    assert again.json()["code"] == "captcha_invalid"


# Quotas -------------------------------------------------------------------------------


def test_a_customer_gets_twenty_captchas_an_hour_then_a_429_with_retry_after(
    client, customer, services, clock
):
    assert CAPTCHAS_PER_CUSTOMER_MAX == 20 and timedelta(hours=1) == CAPTCHA_QUOTA_WINDOW
    for _ in range(CAPTCHAS_PER_CUSTOMER_MAX):
        assert client.post("/v1/me/captchas", headers=customer).status_code == 201
    clock.advance(timedelta(minutes=40))
    refused = client.post("/v1/me/captchas", headers=customer)
    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_captchas"
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1190 <= int(refused.headers["Retry-After"]) <= 1201
    assert refused.json()["retry_after_seconds"] == int(refused.headers["Retry-After"])
    assert challenges_of(services, customer_id_of(services, customer)) == 20
    clock.advance(timedelta(minutes=20, seconds=1))
    assert client.post("/v1/me/captchas", headers=customer).status_code == 201


def test_pictures_and_clips_count_in_the_same_quota(client, customer):
    for index in range(CAPTCHAS_PER_CUSTOMER_MAX):
        kind = "audio" if index % 4 == 0 else "image"
        assert client.post(f"/v1/me/captchas?kind={kind}", headers=customer).status_code == 201
    refused = client.post("/v1/me/captchas?kind=audio", headers=customer)
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_captchas"


def test_an_address_gets_sixty_captchas_an_hour_whatever_the_customer(
    client, mailer, merchant, services
):
    assert CAPTCHAS_PER_ADDRESS_MAX == 60
    customers = [
        sign_in_customer(client, mailer, merchant, f"sharer{n}@example.com", f"+42060777777{n}")
        for n in range(4)
    ]
    for headers in customers[:3]:
        for _ in range(CAPTCHAS_PER_CUSTOMER_MAX):
            assert client.post("/v1/me/captchas", headers=headers).status_code == 201
    refused = client.post("/v1/me/captchas", headers=customers[3])
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_captchas"
    assert "address" in refused.json()["detail"]
    assert challenges_of(services, customer_id_of(services, customers[3])) == 0


def test_a_refusal_by_the_address_quota_does_not_use_up_the_customers(
    client, mailer, merchant, services
):
    customers = [
        customer_id_of(
            services,
            sign_in_customer(client, mailer, merchant, f"mover{n}@example.com", f"+4206088888{n}0"),
        )
        for n in range(4)
    ]
    for customer_id in customers[:3]:
        for _ in range(CAPTCHAS_PER_CUSTOMER_MAX):
            services.captchas.issue(customer_id, "198.51.100.7")
    for _ in range(5):
        with pytest.raises(errors.TooManyCaptchas):
            services.captchas.issue(customers[3], "198.51.100.7")
    # Elsewhere the fourth customer still has the whole quota.
    for _ in range(CAPTCHAS_PER_CUSTOMER_MAX):
        services.captchas.issue(customers[3], "203.0.113.9")
    with pytest.raises(errors.TooManyCaptchas):
        services.captchas.issue(customers[3], "203.0.113.10")


def test_parallel_fetches_get_no_more_than_the_customers_quota(
    postgres_url, server_url, customer, services
):
    responses = all_at_once(
        30, lambda http: http.post(f"{server_url}/v1/me/captchas", headers=customer)
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * 20 + [429] * 10
    refused = [response for response in responses if response.status_code == 429]
    assert {response.json()["code"] for response in refused} == {"too_many_captchas"}
    assert all(int(response.headers["Retry-After"]) > 3500 for response in refused)
    assert challenges_of(services, customer_id_of(services, customer)) == 20


def test_parallel_fetches_from_one_address_get_no_more_than_its_quota(
    postgres_url, server_url, client, mailer, merchant, services
):
    customers = [
        sign_in_customer(client, mailer, merchant, f"crowd{n}@example.com", f"+42060666666{n}")
        for n in range(4)
    ]
    requests = iter([headers for headers in customers for _ in range(CAPTCHAS_PER_CUSTOMER_MAX)])
    lock = threading.Lock()

    def fetch(http):
        with lock:
            headers = next(requests)
        return http.post(f"{server_url}/v1/me/captchas", headers=headers)

    responses = all_at_once(80, fetch)
    statuses = [response.status_code for response in responses]
    assert statuses.count(201) == CAPTCHAS_PER_ADDRESS_MAX and statuses.count(429) == 20
    assert {r.json()["code"] for r in responses if r.status_code == 429} == {"too_many_captchas"}
    issued = sum(challenges_of(services, customer_id_of(services, h)) for h in customers)
    assert issued == CAPTCHAS_PER_ADDRESS_MAX


# Single use -----------------------------------------------------------------------------


def test_a_captcha_answered_in_parallel_passes_once(postgres_url, customer, services):
    customer_id = customer_id_of(services, customer)
    challenge = services.captchas.issue(customer_id, "192.0.2.1")
    barrier = threading.Barrier(20)

    def answer(_index: int) -> str:
        barrier.wait()
        try:
            services.captchas.consume(customer_id, challenge.id, CAPTCHA_ANSWER)
        except errors.CaptchaInvalid:
            return "captcha_invalid"
        return "passed"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(answer, range(20)))
    assert outcomes.count("passed") == 1 and outcomes.count("captcha_invalid") == 19


def test_a_captcha_lives_five_minutes(customer, services, clock):
    customer_id = customer_id_of(services, customer)
    fresh = services.captchas.issue(customer_id, "192.0.2.1")
    stale = services.captchas.issue(customer_id, "192.0.2.1")
    clock.advance(timedelta(minutes=4, seconds=59))
    services.captchas.consume(customer_id, fresh.id, CAPTCHA_ANSWER)
    clock.advance(timedelta(seconds=2))
    with pytest.raises(errors.CaptchaInvalid):
        services.captchas.consume(customer_id, stale.id, CAPTCHA_ANSWER)


# The page ----------------------------------------------------------------------------------


def test_the_bonus_page_offers_the_clip_and_redeems_with_its_digits(
    client, mailer, customer, funded_campaign
):
    _campaign, codes = funded_campaign
    sign_in_on_the_page(client, mailer, "jana@example.com")
    picture_page = client.get("/c/bonus")
    assert 'href="/c/bonus?captcha=audio"' in picture_page.text
    page = client.get("/c/bonus?captcha=audio")
    assert page.status_code == 200
    assert "media-src data:" in page.headers["content-security-policy"]
    clip = re.search(r'<audio[^>]* src="(data:audio/wav;base64,[^"]+)"', page.text)
    assert clip and "Digits you hear" in page.text
    captcha_id = re.search(r'name="captcha_id" value="([^"]+)"', page.text).group(1)
    credited = client.post(
        "/c/bonus",
        data={
            "csrf_token": csrf_of(page.text),
            "code": codes[0],
            "captcha_id": captcha_id,
            "captcha_answer": AUDIO_ANSWER,
            "captcha_kind": "audio",
        },
    )
    assert credited.status_code == 200 and 'id="bonus-credited"' in credited.text
    # The next form stays with the clip.
    assert "<audio" in credited.text


def test_the_bonus_page_says_when_the_captchas_run_out(client, mailer, customer, services):
    sign_in_on_the_page(client, mailer, "jana@example.com")
    customer_id = customer_id_of(services, customer)
    for _ in range(CAPTCHAS_PER_CUSTOMER_MAX):
        services.captchas.issue(customer_id, "192.0.2.1")
    page = client.get("/c/bonus")
    assert page.status_code == 429
    assert int(page.headers["Retry-After"]) > 3500
    assert 'id="captchas-refused"' in page.text and 'name="captcha_answer"' not in page.text
