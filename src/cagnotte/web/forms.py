"""Plain checks of what people type into the forms, before a service sees it."""

from __future__ import annotations

EMAIL_LENGTH_MAX = 320
PASSWORD_LENGTH_MAX = 1024


def looks_like_email(text: str) -> bool:
    """Enough of a check to catch a typo; the service decides whether it is known."""
    local, at, domain = text.rpartition("@")
    return bool(at and local and "." in domain.strip(".") and not any(c.isspace() for c in text))
