"""What every request and answer body is made of: a strict body, amounts, codes, names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from cagnotte.money import AMOUNT_MINOR_MAX

AmountMinor = Annotated[int, Field(strict=True, gt=0, le=AMOUNT_MINOR_MAX)]
AssetCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,23}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
Email = Annotated[EmailStr, StringConstraints(max_length=320)]
Model = TypeVar("Model", bound=type[BaseModel])


class Strict(BaseModel):
    """A request body: unknown fields are refused, and so is a NUL character in text."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _refuse_nul_characters(self) -> Strict:
        # PostgreSQL cannot store U+0000 in text; refuse it here rather than fail there.
        for name, value in self:
            if isinstance(value, str) and "\x00" in value:
                raise ValueError(f"{name} contains a NUL character")
        return self


def without_default(schema: dict) -> None:
    """A field's OpenAPI schema without its default (a PATCH field that takes no null)."""
    schema.pop("default", None)


def example(values: dict[str, Any]) -> Callable[[Model], Model]:
    """Give a request body an example in the OpenAPI (its JSON schema's `examples`).

    A class decorator, and a function for the models made with create_model.
    """

    def add(model: Model) -> Model:
        model.model_config["json_schema_extra"] = {"examples": [values]}
        model.model_rebuild(force=True)
        return model

    return add
