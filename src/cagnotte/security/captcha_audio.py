"""The captcha read aloud: six digits spoken over a babble of other digits.

The accessible alternative to the picture, for customers who cannot see it.
The voice is the one the `captcha` package ships (English digit recordings,
8 kHz, 8-bit), so nothing is fetched and no speech engine runs. Each digit is
spoken at its own speed and loudness, with a pause of its own, over white
noise and a babble of digits played backwards, slower or faster and quieter:
a person hears the loud forward digits, a recogniser hears a stream of digits.
Three beeps open the clip and one closes it.

Assembled here rather than by `captcha.audio.AudioCaptcha`, which takes about
a second of CPU per clip (a Python loop over every sample, several times);
this takes well under a tenth of that (lists and byte tables).
"""

from __future__ import annotations

import io
import os
import secrets
import wave
from dataclasses import dataclass
from pathlib import Path

import captcha

CAPTCHA_AUDIO_ALPHABET = "0123456789"
CAPTCHA_AUDIO_LENGTH = 6
SAMPLE_RATE = 8000

_VOICES = Path(captcha.__file__).parent / "data"
_LEAD_SECONDS = 0.4
_PAUSE_SECONDS = (0.6, 1.3)
_DIGIT_SPEED = (0.9, 1.2)
_DIGIT_LOUDNESS = (0.85, 1.2)
_BABBLE_SPEED = (0.8, 1.6)
_BABBLE_LOUDNESS = (0.2, 0.45)
_NOISE_LEVEL = 3
_NOISE_TABLE = bytes(value % (2 * _NOISE_LEVEL + 1) for value in range(256))
# Mixed samples may leave the 8-bit range: clipped through a table, offset by _CLIP_OFFSET.
_CLIP_OFFSET = 1024
_CLIP = [min(255, max(0, value - _CLIP_OFFSET + 128)) for value in range(2 * _CLIP_OFFSET)]

Samples = list[int]


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * secrets.randbelow(10_001) / 10_000


def _read(path: Path) -> Samples:
    """A recording as signed 8-bit samples (-128…127)."""
    with wave.open(str(path)) as recording:
        assert recording.getsampwidth() == 1 and recording.getframerate() == SAMPLE_RATE
        return [sample - 128 for sample in recording.readframes(recording.getnframes())]


def _resampled(samples: Samples, speed: float) -> Samples:
    """Played `speed` times as fast (nearest sample: the voice is 8 kHz anyway)."""
    count = int(len(samples) / speed)
    return [samples[int(index * speed)] for index in range(count)]


def _louder(samples: Samples, factor: float) -> Samples:
    return [int(sample * factor) for sample in samples]


@dataclass(frozen=True, slots=True)
class CaptchaAudio:
    """Speaks captcha answers; the recordings are loaded once."""

    voices: dict[str, Samples]
    beep: Samples

    @classmethod
    def load(cls) -> CaptchaAudio:
        return cls(
            {digit: _read(_VOICES / digit / "default.wav") for digit in CAPTCHA_AUDIO_ALPHABET},
            _read(_VOICES / "beep.wav"),
        )

    def wav(self, digits: str) -> bytes:
        """The clip speaking `digits`, as a WAV file (mono, 8 kHz, 8-bit)."""
        assert digits and set(digits) <= set(CAPTCHA_AUDIO_ALPHABET)
        spoken = [
            _louder(_resampled(self.voices[d], _uniform(*_DIGIT_SPEED)), _uniform(*_DIGIT_LOUDNESS))
            for d in digits
        ]
        pauses = [int(SAMPLE_RATE * _uniform(*_PAUSE_SECONDS)) for _ in digits]
        length = int(SAMPLE_RATE * _LEAD_SECONDS) + sum(map(len, spoken)) + sum(pauses)
        body = self._babble(length)
        position = int(SAMPLE_RATE * _LEAD_SECONDS)
        for voice, pause in zip(spoken, pauses, strict=True):
            body[position : position + len(voice)] = [
                a + b for a, b in zip(body[position : position + len(voice)], voice, strict=True)
            ]
            position += len(voice) + pause
        gap = [0] * (SAMPLE_RATE // 5)
        clip = self.beep + gap + self.beep + gap + self.beep + body + _resampled(self.beep, 1.4)
        return _wav_file(clip)

    def _babble(self, length: int) -> Samples:
        """White noise and, end to end, random digits played backwards and quietly."""
        # Noise needs no secret randomness, only a cheap uniform one: bytes folded to ±level.
        babble = list(os.urandom(length).translate(_NOISE_TABLE))
        babble = [sample - _NOISE_LEVEL for sample in babble]
        position = 0
        while position < length:
            voice = self.voices[secrets.choice(CAPTCHA_AUDIO_ALPHABET)][::-1]
            voice = _louder(
                _resampled(voice, _uniform(*_BABBLE_SPEED)), _uniform(*_BABBLE_LOUDNESS)
            )
            voice = voice[: length - position]
            end = position + len(voice)
            babble[position:end] = [a + b for a, b in zip(babble[position:end], voice, strict=True)]
            position = end + secrets.randbelow(SAMPLE_RATE // 10 + 1)
        return babble


def _wav_file(samples: Samples) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(1)
        clip.setframerate(SAMPLE_RATE)
        clip.writeframes(bytes([_CLIP[sample + _CLIP_OFFSET] for sample in samples]))
    return out.getvalue()
