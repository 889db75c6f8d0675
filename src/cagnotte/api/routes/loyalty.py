"""Loyalty programs: set up from a pre-set type (points, stamps, kitty), adjust, suspend, delete."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from pydantic import BaseModel

from cagnotte.api.deps import Caller, ServicesDep
from cagnotte.api.pagination import PageDep
from cagnotte.api.schemas.loyalty import (
    LoyaltyProgramChange,
    LoyaltyProgramCreate,
    LoyaltyProgramDeletion,
    LoyaltyProgramOut,
)
from cagnotte.api.schemas.pages import Page
from cagnotte.programs.loyalty.admin import StoredRule
from cagnotte.programs.loyalty.definitions import RuleDefinition
from cagnotte.programs.loyalty.program import ProgramKind

router = APIRouter(prefix="/v1", tags=["loyalty"])


@router.post("/loyalty-programs", status_code=status.HTTP_201_CREATED)
def create_loyalty_program(
    body: LoyaltyProgramCreate, caller: Caller, services: ServicesDep
) -> LoyaltyProgramOut:
    """A manager creates a program of one of the three types; omitted options keep defaults."""
    return LoyaltyProgramOut.of(
        services.loyalty.create(
            caller,
            kind=ProgramKind(body.kind),
            name=body.name,
            currency=body.currency,
            settings=body.settings(),
        )
    )


@router.get("/loyalty-programs")
def list_loyalty_programs(
    caller: Caller, services: ServicesDep, page: PageDep
) -> Page[LoyaltyProgramOut]:
    """The merchant's programs (not the deleted ones), oldest first."""
    return Page.of(services.loyalty.list(caller, page=page), LoyaltyProgramOut.of)


@router.get("/loyalty-programs/{program_id}")
def get_loyalty_program(
    program_id: uuid.UUID, caller: Caller, services: ServicesDep
) -> LoyaltyProgramOut:
    return LoyaltyProgramOut.of(services.loyalty.get(caller, program_id))


@router.patch("/loyalty-programs/{program_id}")
def change_loyalty_program(
    program_id: uuid.UUID, body: LoyaltyProgramChange, caller: Caller, services: ServicesDep
) -> LoyaltyProgramOut:
    return LoyaltyProgramOut.of(
        services.loyalty.update(
            caller,
            program_id,
            name=body.name,
            settings=body.settings(),
        )
    )


@router.post("/loyalty-programs/{program_id}/suspension")
def suspend_loyalty_program(
    program_id: uuid.UUID, caller: Caller, services: ServicesDep
) -> LoyaltyProgramOut:
    """While suspended a program neither earns nor spends; balances stay."""
    return LoyaltyProgramOut.of(services.loyalty.suspend(caller, program_id))


@router.post("/loyalty-programs/{program_id}/resumption")
def resume_loyalty_program(
    program_id: uuid.UUID, caller: Caller, services: ServicesDep
) -> LoyaltyProgramOut:
    return LoyaltyProgramOut.of(services.loyalty.resume(caller, program_id))


@router.post("/loyalty-programs/{program_id}/deletion")
def delete_loyalty_program(
    program_id: uuid.UUID, body: LoyaltyProgramDeletion, caller: Caller, services: ServicesDep
) -> LoyaltyProgramOut:
    """Delete a program (its history stays); members' balances kept or expired now."""
    return LoyaltyProgramOut.of(
        services.loyalty.delete(
            caller,
            program_id,
            open_balances=body.open_balances,
        )
    )


class LoyaltyRuleOut(BaseModel):
    id: uuid.UUID
    program_id: uuid.UUID
    definition: RuleDefinition

    @classmethod
    def of(cls, rule: StoredRule) -> LoyaltyRuleOut:
        return cls(id=rule.id, program_id=rule.program_id, definition=rule.definition)


@router.post("/loyalty-programs/{program_id}/rules", status_code=status.HTTP_201_CREATED)
def create_loyalty_rule(
    program_id: uuid.UUID, body: RuleDefinition, caller: Caller, services: ServicesDep
) -> LoyaltyRuleOut:
    """A promotion: where, when, on what and for whom it earns, and how much (double
    points on coffee on Saturday mornings, 50 points for a first purchase, …)."""
    return LoyaltyRuleOut.of(services.loyalty.create_rule(caller, program_id, body))


@router.get("/loyalty-programs/{program_id}/rules")
def list_loyalty_rules(
    program_id: uuid.UUID, caller: Caller, services: ServicesDep, page: PageDep
) -> Page[LoyaltyRuleOut]:
    """The program's promotions, highest priority first."""
    found = services.loyalty.list_rules(caller, program_id, page)
    return Page.of(found, LoyaltyRuleOut.of)


@router.put("/loyalty-programs/{program_id}/rules/{rule_id}")
def replace_loyalty_rule(
    program_id: uuid.UUID,
    rule_id: uuid.UUID,
    body: RuleDefinition,
    caller: Caller,
    services: ServicesDep,
) -> LoyaltyRuleOut:
    """Change a promotion, or switch it off (`active: false`)."""
    return LoyaltyRuleOut.of(services.loyalty.replace_rule(caller, program_id, rule_id, body))
