"""How often off-the-shelf OCR reads the captcha: the solve rate on generated pictures.

    python3 bench/captcha_ocr.py [--images 200] [--generator before,after]
        [--ocr tesseract,ddddocr] [--audio 0] [--samples DIR]

For each generator it draws `--images` pictures of random answers and asks
each recogniser for the text; a picture is solved when the text read equals
the answer (upper-cased, without spaces: what the service accepts).

Generators: `before` is the picture the service drew until the captcha issue
(the `captcha` package's ImageCaptcha, 220 × 80, five characters of
ACDEFHJKMNPRTUVWXY34679), kept here to measure against; `after` is today's
(`cagnotte.security.captcha_image`, 280 × 90, six characters of
CDEHKMNRTX34679).

Recognisers, each given the best chance an attacker would give it:
- `tesseract` (pytesseract; Debian's tesseract-ocr 5): one text line (psm 7)
  and one word (psm 8), restricted to the alphabet, on the grey picture and on
  a black-and-white one (threshold at the mean grey); each variant is counted
  apart, and `any` counts a picture that one of them solved;
- `ddddocr` (PyPI; a CNN trained for captchas, its model inside the package):
  as it comes, restricted to the alphabet (`set_ranges`), and — an attack
  aimed at today's picture, whose characters are vivid and half its clutter
  grey — on a copy where every greyish pixel (saturation < 0.35) is made white.
`--audio N` also runs pocketsphinx (PyPI, its en-us model inside the package)
with a grammar of exactly six digits on N spoken clips of the accessible
alternative (slow: ~10 s a clip).

The recognisers are for this benchmark only, not dependencies of the service
or of the tests: `apt-get install tesseract-ocr; pip install pytesseract
ddddocr pocketsphinx`. Results are printed and written as JSON to
`bench/results/`.
"""

from __future__ import annotations

import argparse
import io
import json
import secrets
import sys
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from cagnotte.security.captcha_audio import CaptchaAudio  # noqa: E402
from cagnotte.security.captcha_image import (  # noqa: E402
    CAPTCHA_IMAGE_ALPHABET,
    CAPTCHA_IMAGE_LENGTH,
    CaptchaImages,
)

RESULTS = ROOT / "bench" / "results"
BEFORE_ALPHABET = "ACDEFHJKMNPRTUVWXY34679"
BEFORE_LENGTH = 5
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@dataclass(frozen=True, slots=True)
class Generator:
    name: str
    alphabet: str
    length: int
    draw: Callable[[str], bytes]

    def answer(self) -> str:
        return "".join(secrets.choice(self.alphabet) for _ in range(self.length))


def generators() -> dict[str, Generator]:
    from captcha.image import ImageCaptcha

    before = ImageCaptcha(width=220, height=80)
    after = CaptchaImages.load()
    return {
        "before": Generator(
            "before", BEFORE_ALPHABET, BEFORE_LENGTH, lambda text: before.generate(text).getvalue()
        ),
        "after": Generator("after", CAPTCHA_IMAGE_ALPHABET, CAPTCHA_IMAGE_LENGTH, after.png),
    }


def normalised(text: str) -> str:
    return "".join(text.split()).upper()


# Recognisers: each returns {variant: text read} for one picture. ----------------------------


def tesseract_reader(alphabet: str) -> Callable[[bytes], dict[str, str]]:
    import pytesseract

    def read(png: bytes) -> dict[str, str]:
        grey = ImageOps.grayscale(Image.open(io.BytesIO(png)))
        # Tesseract reads dark text on light; it does better on larger text.
        grey = grey.resize((grey.width * 2, grey.height * 2), Image.Resampling.BICUBIC)
        mean = sum(i * n for i, n in enumerate(grey.histogram())) / (grey.width * grey.height)
        black_and_white = grey.point(lambda value: 255 if value > mean else 0)
        out = {}
        for picture_name, picture in (("grey", grey), ("bw", black_and_white)):
            for psm in (7, 8):
                config = f"--psm {psm} -c tessedit_char_whitelist={alphabet}"
                try:
                    text = pytesseract.image_to_string(picture, config=config)
                except pytesseract.TesseractError:
                    # Tesseract 5.3 now and then dies on a picture (SIGFPE): nothing read.
                    text = ""
                out[f"{picture_name}-psm{psm}"] = normalised(text)
        return out

    return read


def ddddocr_reader(alphabet: str) -> Callable[[bytes], dict[str, str]]:
    import ddddocr

    plain = ddddocr.DdddOcr(show_ad=False)
    restricted = ddddocr.DdddOcr(show_ad=False)
    restricted.set_ranges(alphabet + alphabet.lower())

    def read(png: bytes) -> dict[str, str]:
        return {
            "plain": normalised(plain.classification(png)),
            "alphabet": normalised(restricted.classification(png)),
            "without-grey": normalised(plain.classification(without_grey(png))),
        }

    return read


def without_grey(png: bytes, saturation_min: float = 0.35) -> bytes:
    """The picture with every pixel of little colour (grey, or the light background) white."""
    import numpy

    rgb = numpy.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(numpy.float32) / 255
    brightest, darkest = rgb.max(axis=2), rgb.min(axis=2)
    saturation = (brightest - darkest) / numpy.maximum(brightest, 1e-6)
    keep = (saturation > saturation_min) & (brightest < 0.95)
    kept = numpy.where(keep[..., None], rgb, 1.0)
    out = io.BytesIO()
    Image.fromarray((kept * 255).astype(numpy.uint8)).save(out, "PNG")
    return out.getvalue()


READERS = {"tesseract": tesseract_reader, "ddddocr": ddddocr_reader}


@dataclass
class Tally:
    images: int = 0
    solved: dict[str, int] = field(default_factory=dict)
    characters_right: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, answer: str, readings: dict[str, str], seconds: float) -> None:
        self.images += 1
        self.seconds += seconds
        for variant, text in {**readings, "any": ""}.items():
            self.solved.setdefault(variant, 0)
            self.characters_right.setdefault(variant, 0)
            if variant == "any":
                self.solved["any"] += answer in readings.values()
                continue
            self.solved[variant] += text == answer
            self.characters_right[variant] += sum(
                a == b for a, b in zip(text, answer, strict=False)
            )

    def report(self, length: int) -> dict[str, object]:
        return {
            "images": self.images,
            "solve_rate": {v: round(n / self.images, 4) for v, n in self.solved.items()},
            "character_accuracy": {
                v: round(n / (self.images * length), 4)
                for v, n in self.characters_right.items()
                if v != "any"
            },
            "seconds_per_image": round(self.seconds / self.images, 3),
        }


def run_images(generator: Generator, readers: list[str], images: int, samples: Path | None):
    read = {name: READERS[name](generator.alphabet) for name in readers}
    tallies = {name: Tally() for name in readers}
    drawing_seconds = 0.0
    for index in range(images):
        answer = generator.answer()
        started = time.perf_counter()
        png = generator.draw(answer)
        drawing_seconds += time.perf_counter() - started
        if samples is not None and index < 8:
            (samples / f"{generator.name}-{index}-{answer}.png").write_bytes(png)
        for name, reader in read.items():
            started = time.perf_counter()
            readings = reader(png)
            tallies[name].add(answer, readings, time.perf_counter() - started)
    result = {name: tally.report(generator.length) for name, tally in tallies.items()}
    result["drawing_ms_per_image"] = round(1000 * drawing_seconds / images, 1)
    return result


# Audio ------------------------------------------------------------------------------------------


def pocketsphinx_reader(length: int) -> Callable[[bytes], str]:
    from pocketsphinx import Decoder

    digit = " | ".join(DIGIT_WORDS)
    grammar = (
        "#JSGF V1.0;\ngrammar digits;\n"
        f"public <answer> = {' '.join(['<digit>'] * length)};\n<digit> = {digit};\n"
    )
    decoder = Decoder(samprate=16000, loglevel="FATAL")
    decoder.add_jsgf_string("digits", grammar)
    decoder.activate_search("digits")

    def read(clip: bytes) -> str:
        decoder.start_utt()
        decoder.process_raw(_pcm_16k(clip), full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        words = hypothesis.hypstr.split() if hypothesis else []
        return "".join(str(DIGIT_WORDS.index(w)) for w in words if w in DIGIT_WORDS)

    return read


def _pcm_16k(clip: bytes) -> bytes:
    """8 kHz 8-bit WAV to the 16 kHz 16-bit samples the en-us model wants (linear)."""
    import numpy

    with wave.open(io.BytesIO(clip)) as recording:
        rate = recording.getframerate()
        frames = recording.readframes(recording.getnframes())
    samples = (numpy.frombuffer(frames, dtype=numpy.uint8).astype(numpy.float32) - 128) / 128
    times = numpy.arange(0, len(samples), rate / 16000)
    resampled = numpy.interp(times, numpy.arange(len(samples)), samples)
    return (resampled * 32767).astype(numpy.int16).tobytes()


def run_audio(clips: int, samples: Path | None) -> dict[str, object]:
    from cagnotte.security.captcha_audio import CAPTCHA_AUDIO_ALPHABET, CAPTCHA_AUDIO_LENGTH

    speaker = CaptchaAudio.load()
    read = pocketsphinx_reader(CAPTCHA_AUDIO_LENGTH)
    solved = digits_right = 0
    started = time.perf_counter()
    for index in range(clips):
        answer = "".join(
            secrets.choice(CAPTCHA_AUDIO_ALPHABET) for _ in range(CAPTCHA_AUDIO_LENGTH)
        )
        clip = speaker.wav(answer)
        if samples is not None and index < 3:
            (samples / f"audio-{index}-{answer}.wav").write_bytes(clip)
        text = read(clip)
        solved += text == answer
        digits_right += sum(a == b for a, b in zip(text, answer, strict=False))
    return {
        "clips": clips,
        "solve_rate": round(solved / clips, 4),
        "digit_accuracy": round(digits_right / (clips * CAPTCHA_AUDIO_LENGTH), 4),
        "seconds_per_clip": round((time.perf_counter() - started) / clips, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--generator", default="before,after")
    parser.add_argument("--ocr", default="tesseract,ddddocr")
    parser.add_argument("--audio", type=int, default=0, help="spoken clips for pocketsphinx")
    parser.add_argument("--samples", type=Path, help="keep the first pictures and clips here")
    args = parser.parse_args()
    if args.samples:
        args.samples.mkdir(parents=True, exist_ok=True)
    available = generators()
    readers = [name for name in args.ocr.split(",") if name]
    results: dict[str, object] = {}
    for name in args.generator.split(","):
        results[name] = run_images(available[name], readers, args.images, args.samples)
        print(name, json.dumps(results[name], indent=2), flush=True)
    if args.audio:
        results["audio"] = run_audio(args.audio, args.samples)
        print("audio", json.dumps(results["audio"], indent=2), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"captcha_ocr-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print("written to", path)


if __name__ == "__main__":
    main()
