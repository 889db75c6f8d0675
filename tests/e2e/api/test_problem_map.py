"""The one table from domain error codes to HTTP statuses covers every code, and only those.

No database: the checks read the code, and the apps they build are bare.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import cagnotte
from cagnotte import errors
from cagnotte.api.openapi import documented_problem_statuses
from cagnotte.api.problems import STATUS_BY_CODE, install_problem_handlers

# Alembic's env.py runs the migrations when it is imported.
NOT_IMPORTED = ("cagnotte.db.migrations",)


def every_domain_error() -> list[type[errors.DomainError]]:
    """Every DomainError subclass of the package, wherever it is defined."""
    for module in pkgutil.walk_packages(cagnotte.__path__, "cagnotte."):
        if not module.name.startswith(NOT_IMPORTED):
            importlib.import_module(module.name)
    found, todo = [], [errors.DomainError]
    while todo:
        for subclass in todo.pop().__subclasses__():
            found.append(subclass)
            todo.append(subclass)
    return found


def test_the_package_defines_domain_errors_to_check():
    assert len(every_domain_error()) >= 50


def test_every_domain_error_in_the_package_has_an_http_status():
    unmapped = {error.code for error in every_domain_error()} - set(STATUS_BY_CODE)

    assert unmapped == set()


def test_the_table_names_no_code_that_no_domain_error_has():
    stale = set(STATUS_BY_CODE) - {error.code for error in every_domain_error()}

    assert stale == set()


# Not a refusal of the request but of the moment: the database is busy or out of reach.
SERVER_SIDE_CODES = {"service_unavailable": 503}


def test_every_status_is_a_client_error_documented_on_the_routes():
    for code, status in STATUS_BY_CODE.items():
        assert 400 <= status < 500 or SERVER_SIDE_CODES.get(code) == status, code
        assert status in documented_problem_statuses(), code


def test_an_app_is_not_built_while_a_domain_error_code_has_no_status(monkeypatch):
    monkeypatch.delitem(STATUS_BY_CODE, "code_invalid")

    with pytest.raises(AssertionError, match="code_invalid"):
        install_problem_handlers(FastAPI())


def test_a_domain_error_without_a_status_is_a_server_error_not_a_silent_400(monkeypatch):
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/refuse")
    def refuse() -> None:
        raise errors.CodeInvalid()

    # The table loses the code after the app was built, as if a new error had slipped by.
    monkeypatch.delitem(STATUS_BY_CODE, "code_invalid")
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/refuse")

    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"


def test_a_mapped_domain_error_gets_its_status_and_code():
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/refuse")
    def refuse() -> None:
        raise errors.LockedOut()

    with TestClient(app) as client:
        response = client.get("/refuse")

    assert response.status_code == 423
    assert response.json()["code"] == "locked_out"
