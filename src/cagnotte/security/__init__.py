"""Credentials, roles, lockouts."""
