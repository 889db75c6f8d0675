"""Cagnotte: stored value and rewards processing on a double-entry ledger."""

__version__ = "0.1.0"
