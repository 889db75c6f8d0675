"""Storage: tables, engine, migrations. SQLite by default, PostgreSQL for production."""
