"""The merchants' mail templates: Jinja2 in a sandbox (a template may read the fields
it is given, nothing else), for campaigns and the birthday message alike."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from cagnotte import errors

TEMPLATE_LENGTH_MAX = 20_000
_environment = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def render(template: str, context: dict[str, Any]) -> str:
    """The template filled with `context` (invalid_input when it cannot be)."""
    try:
        return _environment.from_string(template).render(**context)
    except TemplateError as error:
        raise errors.InvalidInput(f"The template cannot be used: {error}") from None


# What a merchant's template may read, with sample values: a template is rendered
# with them when it is saved, so that a mistake is told then, not at the send. The
# balances are keyed by program name; any name reads 0 here.
SAMPLE_CONTEXT: dict[str, Any] = {
    "first_name": "Jana",
    "last_name": "Nováková",
    "merchant": "Café",
    "balances": defaultdict(int),
    "unsubscribe_url": "https://example.invalid/u/sample",
}
# The birthday message's fields besides (crm/birthday_messages.py).
BIRTHDAY_SAMPLE_CONTEXT: dict[str, Any] = {
    **SAMPLE_CONTEXT,
    "reward": "100 POINTS (Café points)",
    "rewards": [{"program": "Café points", "units": 100, "text": "100 POINTS"}],
}


def check_templates(sample: dict[str, Any], *templates: str) -> None:
    """Render each template once with `sample` (invalid_input when one cannot be)."""
    for template in templates:
        render(template, sample)
