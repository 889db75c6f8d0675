"""The catalogue's migration (0006) makes exactly the tables that catalogue/tables.py describes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from cagnotte.catalogue.tables import product_categories, products
from cagnotte.db.engine import normalise_database_url
from cagnotte.db.schema import metadata

CATALOGUE_TABLES = {product_categories.name, products.name}


def _touches_catalogue(difference) -> bool:
    """Whether an Alembic difference (a tuple, or a list of them for a column) is ours."""
    for item in difference if isinstance(difference, list) else [difference]:
        for part in item:
            names = (
                {part}
                if isinstance(part, str)
                else {
                    getattr(part, "name", None),
                    getattr(getattr(part, "table", None), "name", None),
                }
            )
            if names & CATALOGUE_TABLES:
                return True
    return False


def test_the_migrated_catalogue_tables_are_the_ones_the_code_describes(database_url):
    engine = create_engine(normalise_database_url(database_url))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, metadata) if _touches_catalogue(d)]
        indexes = {
            index["name"]
            for table in CATALOGUE_TABLES
            for index in inspect(connection).get_indexes(table)
        }
    engine.dispose()
    assert differences == []
    assert {"ix_products_merchant_id_category_id", "uq_product_categories_root_name_key"} <= (
        indexes
    )
