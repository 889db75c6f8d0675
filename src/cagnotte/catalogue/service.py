"""The catalogue's use cases: a merchant's products and categories.

Owners and managers (and the operator acting for a merchant) configure the
catalogue; cashiers and register keys read it. Products are deactivated,
never deleted, and keep their SKU: registers and past checks know them by it.
Every write is one unit of work; an import is one as a whole, so a file with
one bad row writes nothing.

The category tree changes one writer at a time per merchant: every change of
it (a new category, a rename, a move, an import) first locks all of the
merchant's categories, so that its cycle and depth checks read a tree nobody
else is changing. Trees are small and change seldom; product writes, which do
not change the tree, do not take that lock.

Errors: forbidden, not_found, invalid_input, invalid_cursor, asset_not_found,
product_sku_exists, category_name_taken, category_cycle, category_too_deep,
categories_too_many, import_invalid, import_too_large,
import_format_unsupported.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.catalogue import fields, importing, repository
from cagnotte.catalogue.importing import ImportRow, RowError
from cagnotte.catalogue.rows import (
    CATEGORY_CHANGE_FIELDS,
    PRODUCT_CHANGE_FIELDS,
    Category,
    CategoryNode,
    ImportSummary,
    Product,
    ProductDraft,
    ProductFacts,
    ProductFilter,
)
from cagnotte.catalogue.tables import product_categories, products
from cagnotte.catalogue.tree import CategoryTree
from cagnotte.db.engine import Database
from cagnotte.db.pages import FIRST_PAGE, Order, Page, PageRequest, page_of_list
from cagnotte.db.unit_of_work import UnitOfWork, UnitsOfWork, constraint_name
from cagnotte.security.principals import Principal

T = TypeVar("T")

CONFIGURING_ROLE = "manager"
READING_ROLE = "cashier"
PRODUCT_SEARCH_LENGTH_MAX = 100
# Categories are listed as the tree reads top to bottom: by their path of names in any
# case (unique: siblings' names differ), joined with a character that sorts before any
# a name holds, so that a parent comes before its children.
CATEGORY_ORDER = Order("categories", (product_categories.c.name_key, product_categories.c.id))
_PATH_SEPARATOR = "\x01"
# The unique constraints a concurrent writer can beat a unit of work to on
# PostgreSQL (on SQLite, one writer at a time, the checks before them see all).
_SKU_CONSTRAINT = "uq_products_merchant_id_sku"
_CATEGORY_NAME_CONSTRAINTS = (
    "uq_product_categories_merchant_id_parent_id_name_key",
    "uq_product_categories_root_name_key",
)
# An import that loses such a race (two imports of one file into an empty catalogue
# both make its first category) runs again, and then finds what the other made: it
# updates where it would have created. The tree's lock, taken first, queues the
# attempts once the tree has a category.
IMPORT_ATTEMPTS_MAX = 3


class CatalogueService:
    """Products and categories of a merchant: configured by managers, read at the register."""

    def __init__(self, database: Database, units: UnitsOfWork) -> None:
        self.database = database
        self.units = units
        # Each merchant's category tree as last read, with its version: what a
        # check needs of it (each line's ancestors), without a query per check.
        self._trees: dict[uuid.UUID, tuple[int, Mapping[uuid.UUID, uuid.UUID | None]]] = {}

    # Products --------------------------------------------------------------------

    def create_product(self, caller: Principal, draft: ProductDraft) -> Product:
        caller.require(CONFIGURING_ROLE)
        draft = _checked_draft(draft)

        def work(unit: UnitOfWork) -> Product:
            _check_currency(unit.connection, draft.asset_code)
            if draft.category_id is not None:
                repository.category(unit.connection, unit.merchant_id, draft.category_id)
            if repository.products_by_sku(unit.connection, unit.merchant_id, [draft.sku]):
                raise errors.ProductSkuExists()
            product = Product(
                merchant_id=unit.merchant_id,
                id=uuid.uuid4(),
                **asdict(draft),
                created_at=unit.now,
                updated_at=unit.now,
            )
            repository.insert_products(unit.connection, [product])
            _audit(unit, caller, "catalogue.product_created", product.id, {"sku": product.sku})
            return product

        return self._write(caller, "catalogue_product_create", work)

    def update_product(
        self, caller: Principal, product_id: uuid.UUID, changes: Mapping[str, Any]
    ) -> Product:
        """Change what `changes` names (see PRODUCT_CHANGE_FIELDS); active=False deactivates."""
        caller.require(CONFIGURING_ROLE)
        assert changes and changes.keys() <= PRODUCT_CHANGE_FIELDS, changes
        changes = _checked_changes(changes)

        def work(unit: UnitOfWork) -> Product:
            current = Product.from_row(
                unit.lock(products, product_id, missing=repository.NO_SUCH_PRODUCT)
            )
            if "asset_code" in changes:
                _check_currency(unit.connection, changes["asset_code"])
            if changes.get("category_id") is not None:
                repository.category(unit.connection, unit.merchant_id, changes["category_id"])
            changed = {
                name: value for name, value in changes.items() if getattr(current, name) != value
            }
            if not changed:
                return current
            product = replace(current, **changed, updated_at=unit.now)
            repository.update_products(unit.connection, [product])
            _audit(unit, caller, "catalogue.product_changed", product.id, changed)
            return product

        return self._write(caller, "catalogue_product_update", work)

    def get_product(self, caller: Principal, product_id: uuid.UUID) -> Product:
        caller.require(READING_ROLE)
        with self.database.read() as connection:
            return repository.product(connection, caller.merchant_id, product_id)

    def list_products(
        self,
        caller: Principal,
        wanted: ProductFilter,
        page: PageRequest = FIRST_PAGE,
    ) -> Page[Product]:
        """Products in SKU order, a page at a time; an unknown category holds none."""
        caller.require(READING_ROLE)
        text = fields.clean(wanted.text) if wanted.text else None
        if text is not None and len(text) > PRODUCT_SEARCH_LENGTH_MAX:
            raise errors.InvalidInput(
                f"A search has at most {PRODUCT_SEARCH_LENGTH_MAX} characters."
            )
        if text is not None and "\x00" in text:
            raise errors.InvalidInput("A search cannot hold a NUL character.")
        wanted = replace(wanted, text=text or None)
        with self.database.read() as connection:
            return repository.product_page(connection, caller.merchant_id, wanted, page)

    def resolve_lines(
        self, merchant_id: uuid.UUID, skus: Collection[str], categories_version: int | None = None
    ) -> dict[str, ProductFacts]:
        """What the catalogue knows of each SKU of a check's lines, by the SKU as given.

        A SKU the merchant's catalogue does not know (uncatalogued) is not in the
        answer. A deactivated product is, with active False: the check decides.
        The ancestors come from the tree kept in memory; a caller that has read
        the tree's version already (the check, with its context) passes it.
        """
        cleaned = {sku: fields.clean(sku) for sku in skus}
        # What cannot be a SKU is in no catalogue (and a NUL would not reach PostgreSQL).
        cleaned = {sku: clean for sku, clean in cleaned.items() if not fields.sku_problem(clean)}
        with self.database.read() as connection:
            found = repository.products_by_sku(connection, merchant_id, set(cleaned.values()))
            used = {p.category_id for p in found.values() if p.category_id is not None}
            if categories_version is None:
                categories_version = repository.categories_version(connection, merchant_id)
            parents = self._parents(connection, merchant_id, categories_version)
            chains = {category_id: _chain(parents, category_id) for category_id in used}
        facts = {}
        for sku, clean_sku in cleaned.items():
            product = found.get(clean_sku)
            if product is not None:
                chain = chains.get(product.category_id, ()) if product.category_id else ()
                facts[sku] = ProductFacts(product, chain)
        return facts

    def _parents(
        self, connection: Connection, merchant_id: uuid.UUID, version: int
    ) -> Mapping[uuid.UUID, uuid.UUID | None]:
        """The merchant's tree as of `version`, read again only when that has changed.

        Read after the version, in the caller's transaction: a tree changed in
        between is newer than the version it is kept under, and the next check,
        reading the newer version, reads it again.
        """
        kept = self._trees.get(merchant_id)
        if kept is not None and kept[0] == version:
            return kept[1]
        parents = repository.category_parents(connection, merchant_id)
        self._trees[merchant_id] = (version, parents)
        return parents

    # Categories ------------------------------------------------------------------

    def create_category(
        self, caller: Principal, name: str, parent_id: uuid.UUID | None
    ) -> CategoryNode:
        caller.require(CONFIGURING_ROLE)
        name = _checked_category_name(name)

        def change(unit: UnitOfWork, tree: CategoryTree) -> CategoryNode:
            tree.check_new(parent_id, name)
            category = Category(unit.merchant_id, uuid.uuid4(), parent_id, name, unit.now)
            repository.insert_categories(unit.connection, [category])
            tree.add(category)
            _audit(
                unit,
                caller,
                "catalogue.category_created",
                category.id,
                {"path": list(tree.path(category.id))},
            )
            return tree.node(category.id)

        return self._change_tree(caller, "catalogue_category_create", change)

    def change_category(
        self, caller: Principal, category_id: uuid.UUID, changes: Mapping[str, Any]
    ) -> CategoryNode:
        """Rename the category, move it (parent_id None: to the top), or both."""
        caller.require(CONFIGURING_ROLE)
        assert changes and changes.keys() <= CATEGORY_CHANGE_FIELDS, changes
        new_name = _checked_category_name(changes["name"]) if "name" in changes else None

        def change(unit: UnitOfWork, tree: CategoryTree) -> CategoryNode:
            current = tree.get(category_id)
            name = new_name or current.name
            parent_id = changes.get("parent_id", current.parent_id)
            tree.check_change(category_id, name, parent_id)
            changed = replace(current, name=name, parent_id=parent_id)
            if changed != current:
                before = tree.path(category_id)
                repository.update_category(unit.connection, changed)
                tree.replace(changed)
                _audit(
                    unit,
                    caller,
                    "catalogue.category_changed",
                    category_id,
                    {"from": list(before), "to": list(tree.path(category_id))},
                )
            return tree.node(category_id)

        return self._change_tree(caller, "catalogue_category_change", change)

    def list_categories(
        self, caller: Principal, page: PageRequest = FIRST_PAGE
    ) -> Page[CategoryNode]:
        """Every category, each before its children, siblings in name order, a page at a
        time; the tree is short, read whole and paged in Python."""
        return page_of_list(self._tree(caller).flattened(), CATEGORY_ORDER, page, _tree_position)

    def category_tree(self, caller: Principal) -> list[CategoryNode]:
        """The top categories, each with its subcategories."""
        return self._tree(caller).roots()

    def _tree(self, caller: Principal) -> CategoryTree:
        caller.require(READING_ROLE)
        with self.database.read() as connection:
            return CategoryTree(repository.categories(connection, caller.merchant_id))

    # Imports ---------------------------------------------------------------------

    def import_products(self, caller: Principal, content: bytes, file_format: str) -> ImportSummary:
        """Create or update (by SKU) the products of a CSV or XLSX file: all rows or none.

        import_invalid carries every error found (`errors`: line, field, message;
        the first IMPORT_ERRORS_REPORTED_MAX of `error_count`).
        """
        caller.require(CONFIGURING_ROLE)
        if file_format not in importing.FORMATS:
            raise errors.ImportFormatUnsupported()
        if len(content) > importing.IMPORT_BYTES_MAX:
            raise errors.ImportTooLarge(
                f"An import is at most {importing.IMPORT_BYTES_MAX // (1024 * 1024)} MiB."
            )
        # Read before the unit of work: parsing a large workbook takes a while.
        with self.database.read() as connection:
            scales = repository.currency_scales(connection)
        parsed = importing.parse_products(content, file_format, scales)
        if parsed.errors:
            raise _import_invalid(parsed.errors)
        return self._write(
            caller,
            "catalogue_import",
            lambda unit: self._import_rows(unit, caller, parsed.rows),
            attempts=IMPORT_ATTEMPTS_MAX,
        )

    def _import_rows(
        self, unit: UnitOfWork, caller: Principal, rows: Sequence[ImportRow]
    ) -> ImportSummary:
        tree = CategoryTree(repository.lock_categories(unit))
        category_ids, new_categories = _place_paths(unit, tree, rows)
        repository.insert_categories(unit.connection, new_categories)
        found = repository.products_by_sku(unit.connection, unit.merchant_id, [r.sku for r in rows])
        current = {
            row["sku"]: Product.from_row(row)
            for row in unit.lock_many(products, [p.id for p in found.values()])
        }
        created, updated, unchanged = [], [], 0
        for row in rows:
            category_id = category_ids.get(row.category_path) if row.category_path else None
            existing = current.get(row.sku)
            if existing is None:
                created.append(_new_product(unit, row, category_id))
                continue
            product = _imported_over(existing, row, category_id)
            if product == existing:
                unchanged += 1
            else:
                updated.append(replace(product, updated_at=unit.now))
        repository.insert_products(unit.connection, created)
        repository.update_products(unit.connection, updated)
        summary = ImportSummary(len(created), len(updated), unchanged, len(new_categories))
        _audit(unit, caller, "catalogue.imported", None, asdict(summary))
        return summary

    # Units of work -----------------------------------------------------------------

    def _change_tree(
        self,
        caller: Principal,
        operation: str,
        change: Callable[[UnitOfWork, CategoryTree], T],
    ) -> T:
        def work(unit: UnitOfWork) -> T:
            return change(unit, CategoryTree(repository.lock_categories(unit)))

        return self._write(caller, operation, work)

    def _write(
        self,
        caller: Principal,
        operation: str,
        work: Callable[[UnitOfWork], T],
        *,
        attempts: int = 1,
    ) -> T:
        """Run the work as one unit of work; `attempts` > 1 runs it again after losing a race."""
        attempt = 1
        while True:
            try:
                return self.units.run(caller.merchant_id, operation, work)
            except IntegrityError as error:
                lost = _lost_race(constraint_name(error))
                if lost is None:
                    raise
                if attempt == attempts:
                    raise lost from None
            attempt += 1


# Checks ---------------------------------------------------------------------------


def _lost_race(constraint: str | None) -> errors.DomainError | None:
    """The refusal of a request that a concurrent one beat to a SKU or a category name."""
    if constraint == _SKU_CONSTRAINT:
        return errors.ProductSkuExists(
            "Another request made a product with this SKU at the same time."
        )
    if constraint in _CATEGORY_NAME_CONSTRAINTS:
        return errors.CategoryNameTaken(
            "Another request made a category of this name at the same time."
        )
    return None


def _checked_draft(draft: ProductDraft) -> ProductDraft:
    draft = replace(
        draft,
        sku=fields.clean(draft.sku),
        name=fields.clean(draft.name),
        asset_code=draft.asset_code.strip().upper(),
    )
    _refuse(fields.sku_problem(draft.sku))
    _refuse(fields.product_name_problem(draft.name))
    _refuse(fields.unit_price_problem(draft.unit_price_minor))
    return draft


def _checked_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    checked = dict(changes)
    if "name" in checked:
        checked["name"] = fields.clean(checked["name"])
        _refuse(fields.product_name_problem(checked["name"]))
    if "unit_price_minor" in checked:
        _refuse(fields.unit_price_problem(checked["unit_price_minor"]))
    if "asset_code" in checked:
        checked["asset_code"] = checked["asset_code"].strip().upper()
    for flag in ("tax_free", "members_only", "active"):
        assert type(checked.get(flag, False)) is bool, f"{flag} is a bool"
    return checked


def _chain(
    parents: Mapping[uuid.UUID, uuid.UUID | None], category_id: uuid.UUID
) -> tuple[uuid.UUID, ...]:
    """The category, then each ancestor up to the root (bounded like the SQL walk)."""
    chain: list[uuid.UUID] = []
    current: uuid.UUID | None = category_id
    while current is not None and current in parents and len(chain) < fields.CATEGORY_DEPTH_MAX:
        chain.append(current)
        current = parents[current]
    return tuple(chain)


def _checked_category_name(name: str) -> str:
    name = fields.clean(name)
    _refuse(fields.category_name_problem(name))
    return name


def _audit(
    unit: UnitOfWork,
    caller: Principal,
    action: str,
    subject_id: uuid.UUID | None,
    details: Mapping[str, Any],
) -> None:
    shown = {
        key: str(value) if isinstance(value, uuid.UUID) else value for key, value in details.items()
    }
    record_audit(
        unit.connection, unit.merchant_id, caller.actor, action, subject_id, shown, unit.now
    )


def _refuse(problem: str | None) -> None:
    if problem is not None:
        raise errors.InvalidInput(problem[0].upper() + problem[1:] + ".")


def _check_currency(connection: Connection, asset_code: str) -> None:
    if asset_code not in repository.currency_scales(connection):
        raise errors.AssetNotFound("No such currency: a price is in a currency of the platform.")


# Imports ------------------------------------------------------------------------


def _place_paths(
    unit: UnitOfWork, tree: CategoryTree, rows: Sequence[ImportRow]
) -> tuple[dict[tuple[str, ...], uuid.UUID], list[Category]]:
    """The category of each path of the file, made (in the tree) where missing."""
    placed: dict[tuple[str, ...], uuid.UUID] = {}
    new: list[Category] = []
    for row in rows:
        if row.category_path is None or row.category_path in placed:
            continue
        parent_id: uuid.UUID | None = None
        for name in row.category_path:
            category = tree.child_named(parent_id, name)
            if category is None:
                try:
                    tree.check_new(parent_id, name)
                except errors.CategoriesTooMany as error:
                    raise _import_invalid([RowError(row.line, "category", error.message)]) from None
                category = Category(unit.merchant_id, uuid.uuid4(), parent_id, name, unit.now)
                tree.add(category)
                new.append(category)
            parent_id = category.id
        assert parent_id is not None
        placed[row.category_path] = parent_id
    return placed, new


def _new_product(unit: UnitOfWork, row: ImportRow, category_id: uuid.UUID | None) -> Product:
    return Product(
        merchant_id=unit.merchant_id,
        id=uuid.uuid4(),
        sku=row.sku,
        name=row.name,
        category_id=category_id,
        unit_price_minor=row.unit_price_minor,
        asset_code=row.asset_code,
        tax_free=_given(row.tax_free, False),
        members_only=_given(row.members_only, False),
        active=_given(row.active, True),
        created_at=unit.now,
        updated_at=unit.now,
    )


def _imported_over(current: Product, row: ImportRow, category_id: uuid.UUID | None) -> Product:
    """The product as the row describes it; an empty cell keeps the current value."""
    return replace(
        current,
        name=row.name,
        unit_price_minor=row.unit_price_minor,
        asset_code=row.asset_code,
        category_id=category_id if row.category_path is not None else current.category_id,
        tax_free=_given(row.tax_free, current.tax_free),
        members_only=_given(row.members_only, current.members_only),
        active=_given(row.active, current.active),
    )


def _given(value: bool | None, otherwise: bool) -> bool:
    return otherwise if value is None else value


def _tree_position(node: CategoryNode) -> tuple[str, uuid.UUID]:
    """Where a category comes in the list: its path of names, then its id."""
    return _PATH_SEPARATOR.join(fields.name_key(name) for name in node.path), node.category.id


def _import_invalid(problems: Sequence[RowError]) -> errors.DomainError:
    return errors.ImportInvalid(errors=importing.reported(problems), error_count=len(problems))
