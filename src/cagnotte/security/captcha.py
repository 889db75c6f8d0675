"""Captcha challenges: an image with a short text, one per attempt, expiring."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from captcha.image import ImageCaptcha
from sqlalchemy import insert, update

from cagnotte import errors
from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.security.secrets_ import same_hash, token_hash
from cagnotte.security.tables import captcha_challenges

CAPTCHA_LENGTH = 5
CAPTCHA_LIFETIME = timedelta(minutes=5)
# Letters and digits that are hard to mistake for each other once distorted.
CAPTCHA_ALPHABET = "ACDEFHJKMNPRTUVWXY34679"


@dataclass(frozen=True, slots=True)
class Captcha:
    id: uuid.UUID
    png: bytes
    expires_at: datetime

    @property
    def data_url(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode()


class CaptchaService:
    def __init__(
        self, database: Database, clock: Clock, make_answer: Callable[[], str] | None = None
    ) -> None:
        self.database = database
        self.clock = clock
        # Tests pass a known answer; production draws one from `secrets`.
        self.make_answer = make_answer or _random_answer
        self._images = ImageCaptcha(width=220, height=80)

    def issue(self, customer_id: uuid.UUID) -> Captcha:
        """A new challenge for this customer; its answer is kept as a hash."""
        answer = self.make_answer()
        challenge_id = uuid.uuid4()
        now = self.clock.now()
        with self.database.transaction() as connection:
            connection.execute(
                insert(captcha_challenges).values(
                    id=challenge_id,
                    customer_id=customer_id,
                    answer_hash=token_hash(f"{challenge_id}:{answer}"),
                    expires_at=now + CAPTCHA_LIFETIME,
                    created_at=now,
                )
            )
        png = self._images.generate(answer).getvalue()
        return Captcha(id=challenge_id, png=png, expires_at=now + CAPTCHA_LIFETIME)

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
        expected = token_hash(f"{challenge_id}:{answer.strip().upper()}")
        if used is None or not same_hash(used.answer_hash, expected):
            raise errors.CaptchaInvalid()


def _random_answer() -> str:
    return "".join(secrets.choice(CAPTCHA_ALPHABET) for _ in range(CAPTCHA_LENGTH))
