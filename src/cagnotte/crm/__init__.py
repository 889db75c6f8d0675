"""Customers: one identity across merchants, a membership per merchant."""
