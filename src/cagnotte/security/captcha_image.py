"""The captcha's picture: six characters a person reads and off-the-shelf OCR does not.

Drawn with Pillow alone. What a person reads by shape and colour but a
recogniser (which works on a grey copy, left to right, at one text height)
stumbles on, measured by `bench/captcha_ocr.py`:

- each character in its own size (38–58 px), height on the line (±12 px),
  vivid colour, font (DroidSansMono shipped by the `captcha` package, or the
  FreeType font Pillow ships), weight, slant, width and a small rotation;
- behind the characters, five wavy lines as thick as their strokes (grey or
  vivid) and sixteen grey arc fragments, all as dark as the characters: in a
  grey copy they join the characters into one tangle, a person sees vivid
  letters in front of mostly grey scribbles;
- the whole drawing warped by a sine wave, on a light background of rings.

The characters are drawn on top of the clutter, never crossed by it: a line
over a glyph turns an F into an E, a P into an R (which is why neither F nor P
is in the alphabet either: a stroke of the clutter may still touch a glyph).
"""

from __future__ import annotations

import colorsys
import io
import math
import secrets
from dataclasses import dataclass
from pathlib import Path

import captcha
from PIL import Image, ImageDraw, ImageFont

CAPTCHA_IMAGE_WIDTH = 280
CAPTCHA_IMAGE_HEIGHT = 90
# Without look-alikes (no O/Q/0, I/L/1, Z/2, S/5, B/8, G beside 6, V/W/U/J, Y beside
# X and 4, A beside a slanted 4), nor F or P (a stroke nearby makes them an E or an R).
CAPTCHA_IMAGE_ALPHABET = "CDEHKMNRTX34679"
CAPTCHA_IMAGE_LENGTH = 6

_FONT_FILE = Path(captcha.__file__).parent / "data" / "DroidSansMono.ttf"
_FONT_SIZES = (38, 46, 58)
_STROKE_WIDTHS = (1, 2)
_VERTICAL_JITTER = 12
_ROTATION_DEGREES = 12
_SHEAR = 0.15
_OVERLAP = (0.0, 0.1)
_LINES = 5
_LINE_WIDTHS = (3, 4, 5)
_ARC_FRAGMENTS = 16
_ARC_WIDTHS = (2, 3, 4)
_WAVE_AMPLITUDE = (7.0, 10.0)
_BACKGROUND_RINGS = 40
# The greys (luma, 0–255) of the characters and of the clutter behind them.
_LUMA = (40, 110)
_MESH_STEP = 6

Colour = tuple[int, int, int]


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * secrets.randbelow(10_001) / 10_000


def _luma(colour: Colour) -> float:
    red, green, blue = colour
    return 0.30 * red + 0.59 * green + 0.11 * blue


def _vivid_colour() -> Colour:
    """A saturated colour of any hue, as dark in a grey copy as _LUMA says."""
    while True:
        hue, saturation = secrets.randbelow(1000) / 1000, _uniform(0.75, 1.0)
        value = _uniform(0.45, 0.9)
        colour = tuple(int(255 * part) for part in colorsys.hsv_to_rgb(hue, saturation, value))
        if _LUMA[0] <= _luma(colour) <= _LUMA[1]:
            return colour  # type: ignore[return-value]


def _grey() -> Colour:
    level = _LUMA[0] + secrets.randbelow(_LUMA[1] - _LUMA[0] + 1)
    return level, level, level


@dataclass(frozen=True, slots=True)
class CaptchaImages:
    """Draws captcha pictures; the fonts are loaded once."""

    fonts: tuple[tuple[ImageFont.FreeTypeFont, ...], ...]

    @classmethod
    def load(cls) -> CaptchaImages:
        return cls(
            tuple(
                (ImageFont.truetype(str(_FONT_FILE), size), ImageFont.load_default(size))
                for size in _FONT_SIZES
            )
        )

    def png(self, text: str) -> bytes:
        """The picture of `text` as PNG bytes."""
        out = io.BytesIO()
        self.draw(text).save(out, "PNG")
        return out.getvalue()

    def draw(self, text: str) -> Image.Image:
        width, height = CAPTCHA_IMAGE_WIDTH, CAPTCHA_IMAGE_HEIGHT
        picture = _background(width, height)
        drawing = Image.new("RGBA", (width, height))
        _draw_clutter(drawing)
        drawing.alpha_composite(self._text_layer(text, width, height))
        drawing = _wave(drawing)
        picture.paste(drawing, (0, 0), drawing)
        return picture

    def _text_layer(self, text: str, width: int, height: int) -> Image.Image:
        glyphs = [self._glyph(character) for character in text]
        offsets, x = [], 0
        for glyph in glyphs:
            offsets.append(x)
            x += int(glyph.width * (1 - _uniform(*_OVERLAP)))
        # Large glyphs may not fit: the line is scaled down to the picture's width.
        scale = min(1.0, (width - 16) / x)
        left = (width - x * scale) / 2
        layer = Image.new("RGBA", (width, height))
        for glyph, offset in zip(glyphs, offsets, strict=True):
            if scale < 1:
                size = (max(1, int(glyph.width * scale)), max(1, int(glyph.height * scale)))
                glyph = glyph.resize(size, Image.Resampling.BICUBIC)
            jitter = secrets.randbelow(2 * _VERTICAL_JITTER + 1) - _VERTICAL_JITTER
            top = max(0, (height - glyph.height) // 2 + jitter)
            layer.alpha_composite(glyph, (int(left + offset * scale), top))
        return layer

    def _glyph(self, character: str) -> Image.Image:
        font = secrets.choice(secrets.choice(self.fonts))
        stroke = secrets.choice(_STROKE_WIDTHS)
        colour = _vivid_colour()
        left, top, right, bottom = font.getbbox(character, stroke_width=stroke)
        width, height = right - left + 8, bottom - top + 8
        glyph = Image.new("RGBA", (width, height))
        ImageDraw.Draw(glyph).text(
            (4 - left, 4 - top),
            character,
            font=font,
            fill=colour,
            stroke_width=stroke,
            stroke_fill=colour,
        )
        shear, stretch = _uniform(-_SHEAR, _SHEAR), _uniform(0.8, 1.25)
        glyph = glyph.transform(
            (int(width * stretch + abs(shear) * height), height),
            Image.Transform.AFFINE,
            (1 / stretch, shear, -shear * height if shear > 0 else 0, 0, 1, 0),
            Image.Resampling.BICUBIC,
        )
        glyph = glyph.rotate(
            _uniform(-_ROTATION_DEGREES, _ROTATION_DEGREES), Image.Resampling.BICUBIC, expand=True
        )
        box = glyph.getbbox()
        return glyph.crop(box) if box else glyph


def _background(width: int, height: int) -> Image.Image:
    picture = Image.new("RGB", (width, height), tuple(215 + secrets.randbelow(35) for _ in "rgb"))
    drawing = ImageDraw.Draw(picture)
    for _ in range(_BACKGROUND_RINGS):
        x, y, radius = (
            secrets.randbelow(width),
            secrets.randbelow(height),
            2 + secrets.randbelow(12),
        )
        colour = tuple(170 + secrets.randbelow(70) for _ in "rgb")
        drawing.ellipse((x - radius, y - radius, x + radius, y + radius), outline=colour)
    return picture


def _draw_clutter(layer: Image.Image) -> None:
    """Wavy lines across the text band and arc fragments, in colours of their own."""
    width, height = layer.size
    # Grey, which a person tells from the vivid text at once; half the lines vivid,
    # so that dropping the grey pixels does not leave the characters alone. The arcs
    # stay grey: a vivid arc beside a C or a 6 reads as a D.
    line_colours = [_grey(), _vivid_colour()]
    arc_colours = [_grey(), _grey()]
    drawing = ImageDraw.Draw(layer)
    for _ in range(_LINES):
        start, end = secrets.randbelow(width // 4), width - secrets.randbelow(width // 4)
        base = int(height * 0.3) + secrets.randbelow(int(height * 0.4))
        amplitude, period = _uniform(8, 25), _uniform(60, 160)
        phase, slope = _uniform(0, 2 * math.pi), _uniform(-0.3, 0.3)
        points = [
            (x, base + slope * (x - start) + amplitude * math.sin(2 * math.pi * x / period + phase))
            for x in range(start, end, 4)
        ]
        drawing.line(points, fill=secrets.choice(line_colours), width=secrets.choice(_LINE_WIDTHS))
    for _ in range(_ARC_FRAGMENTS):
        x = secrets.randbelow(width)
        y = int(height * 0.2) + secrets.randbelow(int(height * 0.6))
        radius, begin = 6 + secrets.randbelow(14), secrets.randbelow(360)
        drawing.arc(
            (x - radius, y - radius, x + radius, y + radius),
            begin,
            begin + 60 + secrets.randbelow(120),
            fill=secrets.choice(arc_colours),
            width=secrets.choice(_ARC_WIDTHS),
        )


def _wave(layer: Image.Image) -> Image.Image:
    """The layer warped by a sine wave, up and down along x and a little sideways along y."""
    width, height = layer.size
    vertical, sideways = _uniform(*_WAVE_AMPLITUDE), _uniform(2, 4)
    period, phase = _uniform(70, 120), _uniform(0, 2 * math.pi)

    def source(x: int, y: int) -> tuple[float, float]:
        return (
            x + sideways * math.sin(2 * math.pi * y / (period * 0.6) + phase),
            y + vertical * math.sin(2 * math.pi * x / period + phase),
        )

    step = _MESH_STEP
    mesh = [
        (
            (x, y, x + step, y + step),
            (
                *source(x, y),
                *source(x, y + step),
                *source(x + step, y + step),
                *source(x + step, y),
            ),
        )
        for x in range(0, width, step)
        for y in range(0, height, step)
    ]
    return layer.transform(layer.size, Image.Transform.MESH, mesh, Image.Resampling.BICUBIC)
