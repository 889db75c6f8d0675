"""The captcha's picture and clip, drawn without a database."""

from __future__ import annotations

import io
import wave

from PIL import Image

from cagnotte.security.captcha import (
    _random_audio_answer,
    _random_image_answer,
    normalise_answer,
)
from cagnotte.security.captcha_audio import SAMPLE_RATE, CaptchaAudio
from cagnotte.security.captcha_image import (
    CAPTCHA_IMAGE_ALPHABET,
    CAPTCHA_IMAGE_HEIGHT,
    CAPTCHA_IMAGE_WIDTH,
    CaptchaImages,
)

LOOK_ALIKES = set("0OQ1IL2Z5S8BGVWFPA")


def test_the_picture_is_a_png_of_the_size_the_page_shows():
    png = CaptchaImages.load().png("KXT4MA")
    picture = Image.open(io.BytesIO(png))
    assert (picture.format, picture.mode) == ("PNG", "RGB")
    assert picture.size == (CAPTCHA_IMAGE_WIDTH, CAPTCHA_IMAGE_HEIGHT)


def test_two_pictures_of_one_answer_differ():
    images = CaptchaImages.load()
    assert images.png("KXT4MA") != images.png("KXT4MA")


def test_the_text_is_dark_on_a_light_background():
    grey = CaptchaImages.load().draw("KXT4MA").convert("L")
    histogram = grey.histogram()
    pixels = CAPTCHA_IMAGE_WIDTH * CAPTCHA_IMAGE_HEIGHT
    dark = sum(histogram[:110]) / pixels
    light = sum(histogram[200:]) / pixels
    # Characters and clutter cover a good part of the picture, the background most of it.
    assert 0.05 < dark < 0.4 and light > 0.4


def test_answers_avoid_look_alikes_and_have_six_characters():
    assert not LOOK_ALIKES & set(CAPTCHA_IMAGE_ALPHABET)
    answers = {_random_image_answer() for _ in range(200)}
    assert all(
        len(answer) == 6 and set(answer) <= set(CAPTCHA_IMAGE_ALPHABET) for answer in answers
    )
    assert len(answers) > 190
    spoken = _random_audio_answer()
    assert len(spoken) == 6 and spoken.isdigit()


def test_the_clip_is_an_8_khz_wav_a_few_seconds_long_with_beeps_first():
    clip = CaptchaAudio.load().wav("482913")
    with wave.open(io.BytesIO(clip)) as recording:
        assert (recording.getnchannels(), recording.getsampwidth()) == (1, 1)
        assert recording.getframerate() == SAMPLE_RATE
        seconds = recording.getnframes() / SAMPLE_RATE
        frames = recording.readframes(recording.getnframes())
    assert 6 < seconds < 14
    # The clip is not silent, and its loudest part is louder than its babble.
    loudness = [abs(sample - 128) for sample in frames]
    assert max(loudness) > 50
    assert sum(loudness) / len(loudness) < 30


def test_typed_answers_lose_their_spaces_and_case():
    assert normalise_answer(" 482 913\n") == "482913"
    assert normalise_answer("kxt 4ma") == "KXT4MA"
