"""/docs and /redoc need no internet: every file they load is served by the app itself."""

from __future__ import annotations

import re

import pytest

ASSET = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_load_only_files_of_this_origin_and_each_is_served(client, page):
    answer = client.get(page)
    assert answer.status_code == 200
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "default-src 'none'" in policy
    assets = ASSET.findall(answer.text)
    assert any(asset.endswith(".js") for asset in assets), assets
    for asset in assets:
        assert asset.startswith("/") and not asset.startswith("//"), asset
        served = client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 0, asset
    # No inline script: each <script> names its file.
    assert re.findall(r"<script>", answer.text) == []
