"""The app built by create_app serves the server-rendered pages, or is not built at all.

No database: the app is built over a SQLite file that is never opened, and only
pages that read nothing are requested.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cagnotte.api.app import create_app
from cagnotte.bootstrap import bootstrap
from cagnotte.config import Settings


@pytest.fixture
def pages(tmp_path: Path) -> TestClient:
    settings = Settings(
        environment="development",
        database_url=f"sqlite:///{tmp_path / 'never-opened.db'}",
        outbox_dir=tmp_path / "outbox",
    )
    # No `with`: the lifespan (which opens the database's pools) does not run.
    return TestClient(create_app(bootstrap(settings)), follow_redirects=False)


@pytest.mark.parametrize("path", ["/c", "/back-office"])
def test_the_customer_page_and_the_back_office_send_a_stranger_to_their_sign_in(pages, path):
    response = pages.get(path)

    assert response.status_code == 303
    assert response.headers["location"] == f"{path}/sign-in"


@pytest.mark.parametrize("path", ["/c/sign-in", "/back-office/sign-in"])
def test_the_sign_in_pages_are_served_as_html(pages, path):
    response = pages.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


def test_the_pages_static_files_are_served(pages):
    assert pages.get("/static/cagnotte.css").status_code == 200


def test_a_broken_pages_package_stops_the_app_from_being_imported():
    # None in sys.modules makes `import cagnotte.web` raise ImportError, as a broken
    # import inside the package would; the app must not start without its pages.
    script = "import sys; sys.modules['cagnotte.web'] = None; import cagnotte.api.app"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    finished = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )

    assert finished.returncode != 0
    assert "from cagnotte.web import install_pages" in finished.stderr
    assert "import of cagnotte.web halted" in finished.stderr
