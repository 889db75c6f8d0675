"""The register check: quote, commit, read back, refund."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime

from cagnotte import errors
from cagnotte.api.deps import Caller, ServicesDep, ValueMoveDep
from cagnotte.api.pagination import PageDep
from cagnotte.api.schemas.checks import (
    BatchOutcomeOut,
    CheckIn,
    CheckOut,
    CheckRefundIn,
    CheckRefundOut,
    CheckSummaryOut,
    OfflineBatchIn,
    QuoteOut,
)
from cagnotte.api.schemas.pages import Page
from cagnotte.checkout.service import CheckFilters
from cagnotte.db.unit_of_work import Idempotency

router = APIRouter(prefix="/v1", tags=["checks"])

REPLAY_HEADER = "Idempotent-Replayed"


@router.post("/checks/quotes")
async def quote_check(body: CheckIn, caller: Caller, services: ServicesDep) -> QuoteOut:
    """What the check would do: discounts, points to earn, what points may pay, the rest due.

    Nothing is written; commit the same check to make it so.
    """
    # Served on the event loop, not in the thread pool: a quote is CPU work and a
    # few short reads that take no lock, and handing it to a thread and back cost
    # about a sixth of its CPU (measured with py-spy). A commit, which may wait
    # on a member's or a card's lock, stays in the pool.
    return QuoteOut.of(services.checkout.quote(caller, body.request(caller)))


@router.post("/checks", status_code=status.HTTP_201_CREATED, response_model=CheckOut)
def commit_check(body: CheckIn, move: ValueMoveDep, response: Response) -> CheckOut:
    """Commit the check: priced again on the server, everything it does in one journal entry."""
    check = move.services.checkout.commit(move.caller, body.request(move.caller), move.idempotency)
    if check.replayed:
        response.headers[REPLAY_HEADER] = "true"
    return CheckOut.of_check(check)


@router.post("/checks/offline-batches")
def replay_offline_checks(
    body: OfflineBatchIn, caller: Caller, services: ServicesDep
) -> list[BatchOutcomeOut]:
    """An offline register sends the checks it made: each committed once, at its own time.

    Every check carries its own Idempotency-Key, so the batch may be sent again
    (after a lost answer) without committing anything twice; the answer says
    per check whether it was committed now, had been already (replayed), or was
    refused and why.
    """
    items = []
    for check in body.checks:
        payload = check.model_dump(mode="json", exclude={"idempotency_key"})
        digest = hashlib.sha256(
            b"POST /v1/checks\n" + json.dumps(payload, sort_keys=True).encode()
        ).hexdigest()
        items.append((check.request(caller), Idempotency(check.idempotency_key, digest)))
    return [
        BatchOutcomeOut(
            idempotency_key=outcome.idempotency_key,
            status=outcome.status,
            check=CheckOut.of_check(outcome.check) if outcome.check else None,
            code=outcome.code,
            message=outcome.message,
        )
        for outcome in services.checkout.replay_offline(caller, items)
    ]


@router.get("/checks")
def list_checks(
    caller: Caller,
    services: ServicesDep,
    page: PageDep,
    occurred_from: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    occurred_to: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    store_id: uuid.UUID | None = None,
    terminal_id: uuid.UUID | None = None,
    channel: Annotated[str | None, Query(max_length=24)] = None,
    program_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    member: bool | None = None,
) -> Page[CheckSummaryOut]:
    """Recorded checks (members' and others'), newest first, with filters; `cursor` pages on."""
    found = services.checkout.list_checks(
        caller,
        CheckFilters(
            occurred_from=occurred_from,
            occurred_to=occurred_to,
            store_id=store_id,
            terminal_id=terminal_id,
            channel=channel,
            program_id=program_id,
            membership_id=customer_id,
            member=member,
        ),
        page,
    )
    return Page.of(found, lambda row: CheckSummaryOut(**row))


@router.get("/checks/{check_id}")
def get_check(check_id: uuid.UUID, caller: Caller, services: ServicesDep) -> dict[str, Any]:
    """A recorded check with its lines and what each program and instrument did."""
    return services.checkout.get_check(caller, check_id)


@router.post(
    "/checks/{check_id}/refunds",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckRefundOut,
)
def refund_check(
    check_id: uuid.UUID, body: CheckRefundIn, move: ValueMoveDep, response: Response
) -> CheckRefundOut:
    """Give back the whole check or some of its lines; each effect reversed in proportion.

    Points earned are taken back (rounded up), points and kitty spent and wallet
    payments given back (rounded down). Points earned that the customer has
    spent already are not taken below zero: their value is kept off the money
    returned (`kept_off_refund_minor`). The same holds for a voucher, credit or
    next-purchase discount the check issued and the member used already; one
    unused is voided. A voucher or credit the check used is given back to it (in
    proportion; the whole voucher when the whole check is refunded).
    """
    lines = None
    if body.lines is not None:
        lines = {}
        for line in body.lines:
            if line.index in lines:
                raise errors.InvalidInput("Name each line once.")
            lines[line.index] = line.quantity
    refund = move.services.checkout.refund(
        move.caller, check_id, lines=lines, idempotency=move.idempotency
    )
    if refund.replayed:
        response.headers[REPLAY_HEADER] = "true"
    return CheckRefundOut.of(refund)
