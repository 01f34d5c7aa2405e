"""The OpenAPI schema says what the service does: schemathesis generates requests from it (authenticated as an
admin in token mode, a bounded number of examples per operation) and checks every response against it — no 5xx,
status codes, content types, headers and bodies as documented. `/v1/answers` is left out (the model edge is a
script here; its access behaviour has its own tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import ignored_auth

from service.accounts import add_user, create_token
from service.app import create_app
from service.config import Settings
from service.db import open_database
from tests.fakes import HashEmbedder, ScriptedLLM

EXAMPLES = 40
_REQUEST_ARGS = {"method", "url", "headers", "files", "data", "json", "params", "cookies"}


def _settings(root: Path, mode: str) -> Settings:
    s = Settings()
    s.store.path = root / "store"
    s.retrieval.min_dense_score = 2.0
    s.auth.mode = mode  # type: ignore[assignment]
    s.auth.rate_limit_per_min = 1_000_000
    return s


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    root = tmp_path_factory.mktemp("schemathesis")
    llm = ScriptedLLM({"antwort": "Keine Angabe.", "quellen": []})
    with TestClient(create_app(_settings(root, "none"), embedder=HashEmbedder(), llm=llm)) as local:
        r = local.post(
            "/v1/documents",
            params={"working_group": "AK KI"},
            files={"files": ("notiz.md", b"# Notiz\n\nDas Pilotbudget betraegt 320.000 EUR.\n")},
        )
        assert r.status_code == 200, r.text
    db = open_database(_settings(root, "token").database_url())
    try:
        add_user(db, "root", [], is_admin=True)
        token = create_token(db, "root")[1]
    finally:
        db.close()
    app = create_app(_settings(root, "token"), embedder=HashEmbedder(), llm=llm)
    with TestClient(app) as client:  # one lifespan for every case: the store and parse worker start once
        yield client, token


@pytest.fixture(scope="module")
def api_schema(served: tuple[TestClient, str]) -> Any:
    document = served[0].get("/openapi.json").json()
    return schemathesis.openapi.from_dict(document).exclude(path="/v1/answers")


def test_the_service_does_what_its_openapi_schema_says(
    api_schema: Any, served: tuple[TestClient, str]
) -> None:
    """Each operation: `EXAMPLES` generated cases (schemathesis' strategies run by hypothesis directly: its pytest
    plugin does not load under this pytest), every check of schemathesis on every response."""
    client, token = served
    auth = {"Authorization": f"Bearer {token}"}
    cases: dict[str, int] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def run(case: Any) -> None:
            label = case.operation.label
            kwargs = case.as_transport_kwargs(base_url=str(client.base_url), headers=auth)
            if not kwargs.get("cookies"):
                kwargs.pop("cookies", None)
            cases[label] = cases.get(label, 0) + 1
            # Schemathesis serialises for `requests`; let requests encode the body (multipart included), send
            # those bytes through the in-process app.
            prepared = requests.Request(**{k: v for k, v in kwargs.items() if k in _REQUEST_ARGS}).prepare()
            response = client.request(
                str(prepared.method), str(prepared.url), content=prepared.body, headers=dict(prepared.headers)
            )
            # `ignored_auth` re-sends the request over a real network connection; 401 without a token is tested
            # per route in test_access_api.py.
            case.validate_response(
                response, headers=auth, transport_kwargs=kwargs, excluded_checks=[ignored_auth]
            )

        run()
    print(f"\nschemathesis: {sum(cases.values())} cases over {len(cases)} operations: {cases}")
    assert len(cases) >= 6
