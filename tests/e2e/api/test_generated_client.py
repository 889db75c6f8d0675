"""A client generated from the OpenAPI works against a live server, errors included.

openapi-python-client (the test extra) generates a package from /openapi.json;
the test imports it and, over real HTTP, pays from a wallet, reads the typed
problem of a refused payment (insufficient_funds, parsed: not None), replays a
payment by its Idempotency-Key, and acts for a merchant as the operator with
the merchant's id sent as text.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import uuid
from types import ModuleType

import pytest

from tests.e2e.api.conftest import enrol, top_up

GENERATOR = "openapi-python-client"
PACKAGE = "cagnotte_client"
GENERATION_TIMEOUT_SECONDS = 240


@pytest.fixture
def generated(client, tmp_path) -> ModuleType:
    """The client package generated from this app's OpenAPI, imported."""
    executable = shutil.which(GENERATOR)
    assert executable, f"{GENERATOR} is in the test extra (pyproject.toml): install it"
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(client.get("/openapi.json").json()))
    output = tmp_path / "generated" / PACKAGE
    result = subprocess.run(
        [executable, "generate", "--path", str(document), "--output-path", str(output)]
        + ["--meta", "none"],
        capture_output=True,
        text=True,
        timeout=GENERATION_TIMEOUT_SECONDS,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Endpoint will not be generated" not in result.stdout, result.stdout
    sys.path.insert(0, str(output.parent))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(output.parent))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _module(package: ModuleType, name: str) -> ModuleType:
    return importlib.import_module(f"{package.__name__}.{name}")


def test_a_generated_client_pays_reads_a_typed_problem_and_replays(
    generated, server_url, client, merchant
):
    customer = enrol(client, merchant)
    assert top_up(client, merchant, customer["id"], 5_000).status_code == 201
    create_payment = _module(generated, "api.wallets.create_payment")
    models = _module(generated, "models")
    api = generated.AuthenticatedClient(base_url=server_url, token=merchant.register_key)
    with api:
        body = models.WalletMovement(
            customer_id=uuid.UUID(customer["id"]), asset="CZK", amount_minor=1_500
        )
        key = str(uuid.uuid4())
        paid = create_payment.sync_detailed(client=api, body=body, idempotency_key=key)
        assert paid.status_code == 201
        assert isinstance(paid.parsed, models.PaymentOut)
        assert paid.parsed.amount_minor == 1_500
        assert "Idempotent-Replayed" not in paid.headers

        replayed = create_payment.sync_detailed(client=api, body=body, idempotency_key=key)
        assert replayed.status_code == 201
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert replayed.parsed.id == paid.parsed.id

        too_much = models.WalletMovement(
            customer_id=uuid.UUID(customer["id"]), asset="CZK", amount_minor=10_000
        )
        refused = create_payment.sync_detailed(
            client=api, body=too_much, idempotency_key=str(uuid.uuid4())
        )
        assert refused.status_code == 422
        assert isinstance(refused.parsed, models.Problem)
        assert refused.parsed.code == "insufficient_funds"
        assert refused.parsed.status == 422

    accounts = client.get(
        f"/v1/customers/{customer['id']}/accounts", headers=merchant.register
    ).json()["items"]
    # Paid once (the replay moved nothing), and the refused payment took nothing.
    assert [a["balance"]["available_minor"] for a in accounts] == [3_500]


def test_a_generated_client_acts_for_a_merchant_as_the_operator(
    generated, server_url, merchant, operator_key
):
    list_stores = _module(generated, "api.stores.list_stores")
    api = generated.AuthenticatedClient(base_url=server_url, token=operator_key)
    with api:
        # Sent as text: a UUID object in a header was a TypeError in the client.
        stores = list_stores.sync_detailed(client=api, cagnotte_merchant_id=merchant.id)
    assert stores.status_code == 200, stores.content
    assert [str(store.id) for store in stores.parsed.items] == [merchant.store_id]
