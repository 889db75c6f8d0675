"""Captcha challenges: a picture (or, for those who cannot see it, a clip) per attempt.

A challenge is single-use and short-lived: `consume` marks it used in the one
`UPDATE … WHERE used_at IS NULL AND expires_at > now` that reads its answer,
so two requests with one challenge cannot both pass, right answer or not.

So that nobody fetches challenges until an easy one comes, a customer gets at
most CAPTCHAS_PER_CUSTOMER_MAX and a client address at most
CAPTCHAS_PER_ADDRESS_MAX per CAPTCHA_QUOTA_WINDOW, pictures and clips
together. Each is a counter row of `captcha_quotas` (a fixed window: the count
starts again once the window that its first challenge opened has passed),
raised by an `INSERT … ON CONFLICT DO UPDATE … WHERE issued < max RETURNING`
in the transaction that stores the challenge: parallel requests queue on the
row and each sees the count the one before it left. A refusal is
`too_many_captchas` with the seconds until the window ends.

The audio clip is the same challenge with digits for an answer: it counts in
the same quotas, and the redemption consumes it as it consumes a picture, so
a wrong answer and a wrong code count against the same bonus lockout.

Errors: too_many_captchas (issue), captcha_invalid (consume).
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, case, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cagnotte import errors
from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.security.captcha_audio import (
    CAPTCHA_AUDIO_ALPHABET,
    CAPTCHA_AUDIO_LENGTH,
    CaptchaAudio,
)
from cagnotte.security.captcha_image import (
    CAPTCHA_IMAGE_ALPHABET,
    CAPTCHA_IMAGE_LENGTH,
    CaptchaImages,
)
from cagnotte.security.secrets_ import same_hash, token_hash
from cagnotte.security.tables import captcha_challenges, captcha_quotas

CAPTCHA_LIFETIME = timedelta(minutes=5)
# A person needs a few per attempt (one per try, one more when a picture is
# unreadable); five wrong codes lock the bonus feature anyway.
CAPTCHAS_PER_CUSTOMER_MAX = 20
# Several customers may share an address (a household, an office behind NAT).
CAPTCHAS_PER_ADDRESS_MAX = 60
CAPTCHA_QUOTA_WINDOW = timedelta(hours=1)
# Longer "addresses" (they come from the proxy's header) are cut to this.
CLIENT_ADDRESS_LENGTH_MAX = 100

CaptchaKind = Literal["image", "audio"]
QuotaScope = Literal["customer", "address"]


@dataclass(frozen=True, slots=True)
class Captcha:
    """A challenge to show: a PNG picture, or a WAV clip for the audio kind."""

    id: uuid.UUID
    kind: CaptchaKind
    media_type: str
    content: bytes
    expires_at: datetime

    @property
    def data_url(self) -> str:
        return f"data:{self.media_type};base64," + base64.b64encode(self.content).decode()

    @property
    def png(self) -> bytes:
        assert self.kind == "image"
        return self.content


def normalise_answer(answer: str) -> str:
    """What the customer typed, without spaces (a clip's digits are often typed apart)."""
    return "".join(answer.split()).upper()


class CaptchaService:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        make_answer: Callable[[], str] | None = None,
        make_audio_answer: Callable[[], str] | None = None,
    ) -> None:
        self.database = database
        self.clock = clock
        # Tests pass known answers; production draws them from `secrets`.
        self.make_answer = make_answer or _random_image_answer
        self.make_audio_answer = make_audio_answer or _random_audio_answer
        self._images = CaptchaImages.load()
        self._audio: CaptchaAudio | None = None

    def issue(
        self, customer_id: uuid.UUID, client_address: str, kind: CaptchaKind = "image"
    ) -> Captcha:
        """A new challenge for this customer; its answer is kept as a hash.

        Counted against the customer's and the address's quotas in the
        transaction that stores it; drawn afterwards, outside the transaction.
        """
        answer = self.make_answer() if kind == "image" else self.make_audio_answer()
        challenge_id = uuid.uuid4()
        now = self.clock.now()
        address = client_address[:CLIENT_ADDRESS_LENGTH_MAX]
        with self.database.transaction() as connection:
            _take_from_quota(connection, "customer", str(customer_id), now)
            _take_from_quota(connection, "address", address, now)
            connection.execute(
                insert(captcha_challenges).values(
                    id=challenge_id,
                    customer_id=customer_id,
                    answer_hash=_answer_hash(challenge_id, normalise_answer(answer)),
                    expires_at=now + CAPTCHA_LIFETIME,
                    created_at=now,
                )
            )
        if kind == "image":
            content, media_type = self._images.png(answer), "image/png"
        else:
            content, media_type = self._speaker().wav(answer), "audio/wav"
        return Captcha(challenge_id, kind, media_type, content, now + CAPTCHA_LIFETIME)

    def consume(self, customer_id: uuid.UUID, challenge_id: uuid.UUID, answer: str) -> None:
        """Check an answer; the challenge is used up whether it was right or not."""
        now = self.clock.now()
        with self.database.transaction() as connection:
            used = connection.execute(
                update(captcha_challenges)
                .where(
                    captcha_challenges.c.id == challenge_id,
                    captcha_challenges.c.customer_id == customer_id,
                    captcha_challenges.c.used_at.is_(None),
                    captcha_challenges.c.expires_at > now,
                )
                .values(used_at=now)
                .returning(captcha_challenges.c.answer_hash)
            ).first()
        expected = _answer_hash(challenge_id, normalise_answer(answer))
        if used is None or not same_hash(used.answer_hash, expected):
            raise errors.CaptchaInvalid()

    def _speaker(self) -> CaptchaAudio:
        # Loaded on the first clip: most processes never speak one.
        if self._audio is None:
            self._audio = CaptchaAudio.load()
        return self._audio


def _take_from_quota(
    connection: Connection, scope: QuotaScope, subject: str, now: datetime
) -> None:
    """Count one challenge for `subject`, or refuse with the seconds until its window ends."""
    maximum = CAPTCHAS_PER_CUSTOMER_MAX if scope == "customer" else CAPTCHAS_PER_ADDRESS_MAX
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(captcha_quotas).values(
        scope=scope, subject=subject, window_started_at=now, issued=1
    )
    row = captcha_quotas.c
    window_over = row.window_started_at <= now - CAPTCHA_QUOTA_WINDOW
    taken = connection.execute(
        statement.on_conflict_do_update(
            index_elements=[row.scope, row.subject],
            set_={
                "issued": case((window_over, 1), else_=row.issued + 1),
                "window_started_at": case(
                    (window_over, statement.excluded.window_started_at),
                    else_=row.window_started_at,
                ),
            },
            where=window_over | (row.issued < maximum),
        ).returning(row.issued)
    ).first()
    if taken is not None:
        return
    # Refused: the row is this transaction's (the upsert locked it), so its window is exact.
    window_started_at = connection.execute(
        select(row.window_started_at).where(row.scope == scope, row.subject == subject)
    ).scalar_one()
    retry_after = window_started_at + CAPTCHA_QUOTA_WINDOW - now
    raise errors.TooManyCaptchas(
        f"No more than {maximum} captchas per {scope} in an hour; "
        f"try again after {window_started_at + CAPTCHA_QUOTA_WINDOW:%H:%M} UTC.",
        retry_after_seconds=max(1, int(retry_after.total_seconds()) + 1),
    )


def _answer_hash(challenge_id: uuid.UUID, answer: str) -> str:
    return token_hash(f"{challenge_id}:{answer}")


def _random_image_answer() -> str:
    return "".join(secrets.choice(CAPTCHA_IMAGE_ALPHABET) for _ in range(CAPTCHA_IMAGE_LENGTH))


def _random_audio_answer() -> str:
    return "".join(secrets.choice(CAPTCHA_AUDIO_ALPHABET) for _ in range(CAPTCHA_AUDIO_LENGTH))
