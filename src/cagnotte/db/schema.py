"""Every table of every package, for Alembic's comparisons."""

from cagnotte.catalogue import tables as _catalogue  # noqa: F401
from cagnotte.checkout import tables as _checkout  # noqa: F401
from cagnotte.crm import tables as _crm  # noqa: F401
from cagnotte.db.tables import metadata
from cagnotte.outbox import tables as _outbox  # noqa: F401
from cagnotte.programs.bonus_codes import tables as _bonus_codes  # noqa: F401
from cagnotte.programs.gift_cards import tables as _gift_cards  # noqa: F401
from cagnotte.programs.loyalty import tables as _loyalty  # noqa: F401
from cagnotte.security import tables as _security  # noqa: F401
from cagnotte.webhooks import tables as _webhooks  # noqa: F401

__all__ = ["metadata"]
