"""Bank accounts for payouts: an IBAN or a Czech account number with its bank code."""

from __future__ import annotations

import secrets

from stdnum import iban
from stdnum.cz import bankaccount
from stdnum.exceptions import ValidationError

from cagnotte import errors


def normalise_bank_account(text: str) -> str:
    """'CZ65 0800 0000 1920 0014 5399' → 'CZ6508000000192000145399';
    '19-2000145399/0800' → '19-2000145399/0800'. Raises invalid_bank_account."""
    raw = text.strip()
    try:
        if "/" in raw:
            return bankaccount.validate(raw)
        return iban.validate(raw)
    except ValidationError:
        raise errors.InvalidBankAccount() from None


def new_variable_symbol() -> str:
    """A payment reference: ten digits, not starting with 0 (banks drop leading zeros)."""
    return str(secrets.randbelow(9 * 10**9) + 10**9)
