"""Merchants (tenants), their stores, terminals, staff and API keys."""
