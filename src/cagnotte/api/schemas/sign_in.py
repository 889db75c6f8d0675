"""The customer's sign-in by a code sent by e-mail, and who is signed in."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from cagnotte.api.schemas.base import Email, Strict, example
from cagnotte.api.schemas.customers import CustomerOut


@example({"email": "jana@example.com"})
class SignInCodeRequest(Strict):
    email: Email


@example({"email": "jana@example.com", "code": "483920"})
class SignInCodeVerify(Strict):
    email: Email
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=12)]


class SessionOut(BaseModel):
    token: str
    expires_at: datetime


class MeOut(BaseModel):
    customer_id: uuid.UUID
    memberships: list[CustomerOut]
