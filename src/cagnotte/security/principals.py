"""Who is calling, and what their role lets them do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from cagnotte import errors

# A higher rank may do everything a lower one may. A reseller (a gift card
# distribution partner) ranks below a cashier: only the gift card routes that
# name it let it in.
# What a customer is told wherever their blocked platform account is refused.
PLATFORM_ACCOUNT_BLOCKED = "This platform account is blocked by the operator."

ROLE_RANK = {"reseller": 0, "cashier": 1, "manager": 2, "owner": 3, "operator": 4}


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a merchant route: an API key or a signed-in staff member."""

    merchant_id: uuid.UUID
    role: str
    key_id: uuid.UUID | None = None
    staff_id: uuid.UUID | None = None
    store_id: uuid.UUID | None = None
    terminal_id: uuid.UUID | None = None
    # Set when a signed-in customer acts on their own behalf (registering a card).
    customer_id: uuid.UUID | None = None

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        if self.customer_id is not None:
            return f"customer:{self.customer_id}"
        if self.staff_id is not None:
            return f"staff:{self.staff_id}"
        return f"key:{self.key_id}"

    def require(self, role: str) -> None:
        """Raise forbidden unless the caller's role is at least `role`."""
        if ROLE_RANK[self.role] < ROLE_RANK[role]:
            raise errors.Forbidden(f"This needs the {role} role or higher.")

    def acting_for(self, merchant_id: uuid.UUID) -> Principal:
        """The operator acting on a merchant's behalf, with an owner's rights there."""
        assert self.is_operator
        return Principal(merchant_id=merchant_id, role="operator", key_id=self.key_id)


@dataclass(frozen=True, slots=True)
class CustomerPrincipal:
    """A customer signed in to the customer page."""

    customer_id: uuid.UUID
