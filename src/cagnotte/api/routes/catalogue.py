"""The catalogue: products and categories, made one by one or imported from a file."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from cagnotte import errors
from cagnotte.api.deps import Caller, ServicesDep
from cagnotte.api.pagination import PageDep
from cagnotte.api.schemas.catalogue import (
    CategoryChange,
    CategoryCreate,
    CategoryOut,
    CategoryTreeOut,
    ImportOut,
    ProductChange,
    ProductCreate,
    ProductOut,
)
from cagnotte.api.schemas.pages import Page
from cagnotte.catalogue.importing import IMPORT_BYTES_MAX
from cagnotte.catalogue.rows import ProductDraft, ProductFilter
from cagnotte.catalogue.service import PRODUCT_SEARCH_LENGTH_MAX

router = APIRouter(prefix="/v1/catalogue", tags=["catalogue"])

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMAT_BY_MEDIA_TYPE = {"text/csv": "csv", XLSX_MEDIA_TYPE: "xlsx"}
_FORMAT_BY_SUFFIX = {".csv": "csv", ".xlsx": "xlsx"}
# What the framing of a multipart upload (boundaries, part headers) may add to the file.
MULTIPART_OVERHEAD_MAX = 16 * 1024
# PostgreSQL cannot compare text with U+0000 in it.
NO_NUL_CHARACTER = r"^[^\x00]*$"


# Products ---------------------------------------------------------------------------


@router.post("/products", status_code=status.HTTP_201_CREATED)
def create_product(body: ProductCreate, caller: Caller, services: ServicesDep) -> ProductOut:
    """A manager adds a product; its SKU is unique in the merchant's catalogue."""
    draft = ProductDraft(
        sku=body.sku,
        name=body.name,
        unit_price_minor=body.unit_price_minor,
        asset_code=body.currency,
        category_id=body.category_id,
        tax_free=body.tax_free,
        members_only=body.members_only,
        active=body.active,
    )
    return ProductOut.of(services.catalogue.create_product(caller, draft))


@router.get("/products")
def list_products(
    caller: Caller,
    services: ServicesDep,
    page: PageDep,
    category_id: Annotated[
        uuid.UUID | None, Query(description="This category and every one below it.")
    ] = None,
    active: bool | None = None,
    q: Annotated[
        str | None,
        Query(
            max_length=PRODUCT_SEARCH_LENGTH_MAX,
            pattern=NO_NUL_CHARACTER,
            description="Part of the SKU or of the name, in any case.",
        ),
    ] = None,
) -> Page[ProductOut]:
    """The products in SKU order; pass next_cursor to get the next page."""
    wanted = ProductFilter(category_id=category_id, active=active, text=q)
    return Page.of(services.catalogue.list_products(caller, wanted, page), ProductOut.of)


@router.get("/products/{product_id}")
def get_product(product_id: uuid.UUID, caller: Caller, services: ServicesDep) -> ProductOut:
    return ProductOut.of(services.catalogue.get_product(caller, product_id))


@router.patch("/products/{product_id}")
def update_product(
    product_id: uuid.UUID, body: ProductChange, caller: Caller, services: ServicesDep
) -> ProductOut:
    """Change a product; `active: false` takes it out of sale (products are never deleted)."""
    return ProductOut.of(services.catalogue.update_product(caller, product_id, body.changes()))


# Categories -------------------------------------------------------------------------


@router.post("/categories", status_code=status.HTTP_201_CREATED)
def create_category(body: CategoryCreate, caller: Caller, services: ServicesDep) -> CategoryOut:
    """A category at the top, or below `parent_id`; its name is unique among its siblings."""
    return CategoryOut.of(services.catalogue.create_category(caller, body.name, body.parent_id))


@router.get("/categories")
def list_categories(caller: Caller, services: ServicesDep, page: PageDep) -> Page[CategoryOut]:
    """Every category, each before its subcategories, siblings in name order."""
    return Page.of(services.catalogue.list_categories(caller, page), CategoryOut.of)


@router.get("/categories/tree")
def get_category_tree(caller: Caller, services: ServicesDep) -> list[CategoryTreeOut]:
    """The top categories, each with its subcategories."""
    return [CategoryTreeOut.of(node) for node in services.catalogue.category_tree(caller)]


@router.patch("/categories/{category_id}")
def change_category(
    category_id: uuid.UUID, body: CategoryChange, caller: Caller, services: ServicesDep
) -> CategoryOut:
    """Rename a category, or move it (with its subcategories) below another or to the top."""
    changes = body.model_dump(exclude_unset=True)
    return CategoryOut.of(services.catalogue.change_category(caller, category_id, changes))


# Imports ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportFile:
    """The bytes of an uploaded product file, and whether it is CSV or XLSX."""

    content: bytes
    file_format: str


async def read_import_file(request: Request) -> ImportFile:
    """The file of an import: the body itself (text/csv or XLSX), or a multipart part `file`.

    The body is read no further than an import may be long.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        body = await _body_within(request, IMPORT_BYTES_MAX + MULTIPART_OVERHEAD_MAX)
        return await _file_part(request, body)
    file_format = _FORMAT_BY_MEDIA_TYPE.get(media_type)
    if file_format is None:
        raise errors.ImportFormatUnsupported()
    return ImportFile(await _body_within(request, IMPORT_BYTES_MAX), file_format)


async def _body_within(request: Request, size_max: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > size_max:
        raise _too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > size_max:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def _file_part(request: Request, body: bytes) -> ImportFile:
    async def stream() -> AsyncIterator[bytes]:
        yield body

    try:
        form = await MultiPartParser(request.headers, stream(), max_files=1, max_fields=10).parse()
    except MultiPartException as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, error.message) from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise errors.InvalidInput("Send the file in a part named 'file'.")
        media_type = (upload.content_type or "").split(";")[0].strip().lower()
        suffix = PurePosixPath(upload.filename or "").suffix.lower()
        file_format = _FORMAT_BY_MEDIA_TYPE.get(media_type) or _FORMAT_BY_SUFFIX.get(suffix)
        if file_format is None:
            raise errors.ImportFormatUnsupported()
        content = await upload.read()
    finally:
        await form.close()
    if len(content) > IMPORT_BYTES_MAX:
        raise _too_large()
    return ImportFile(content, file_format)


def _too_large() -> errors.DomainError:
    return errors.ImportTooLarge(f"An import is at most {IMPORT_BYTES_MAX // (1024 * 1024)} MiB.")


ImportFileDep = Annotated[ImportFile, Depends(read_import_file)]

_IMPORT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            },
        },
        "text/csv": {"schema": {"type": "string"}},
        XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
    },
}


@router.post("/imports", openapi_extra={"requestBody": _IMPORT_BODY})
def import_products(caller: Caller, upload: ImportFileDep, services: ServicesDep) -> ImportOut:
    """Create or update (by SKU) the products of a CSV or XLSX file, all of them or none.

    Columns: sku, name, unit_price (a decimal in major units, e.g. 2.50), currency,
    and optionally category (a path, "Drinks/Hot drinks", made where missing),
    tax_free, members_only, active. A file with any bad row writes nothing and
    answers 422 `import_invalid` with each error's line, field and message.
    """
    return ImportOut.of(
        services.catalogue.import_products(caller, upload.content, upload.file_format)
    )
