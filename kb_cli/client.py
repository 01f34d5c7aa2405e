"""How `kb` reaches the service: one HTTP client, either to a running `kb serve` or to the app in process.

While `kb serve` runs it owns the embedded store, so every command goes through its HTTP API. Without a running
service the CLI runs the same app in process (starlette's sync client over the ASGI app, lifespan included, so
the store is opened and closed) and calls the same routes. There is no second, local copy of a route.

Discovery: `kb serve` records `{"url", "store_id", "pid"}` in the data folder (beside the store directory); the
CLI uses a recorded or configured URL only when its `/healthz` answers with the id of our store.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from ingest.store import store_identity
from service.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

SERVICE_FILE = "service.json"
PROBE_TIMEOUT_S = 1.0
REQUEST_TIMEOUT_S = 600.0


class _Response(Protocol):
    status_code: int
    text: str
    reason_phrase: str

    def json(self) -> Any: ...


class ServiceError(Exception):
    """A request the service answered with a problem (RFC 9457), or could not be made at all."""

    def __init__(self, code: str, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status

    @classmethod
    def from_response(cls, response: _Response) -> ServiceError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("code"):
            return cls(
                str(body["code"]), str(body.get("detail") or body.get("title") or ""), response.status_code
            )
        text = " ".join(response.text.split())[:200] or response.reason_phrase
        return cls(f"http_{response.status_code}", text, response.status_code)


@dataclass(frozen=True)
class ServiceClient:
    """The service's routes, with the HTTP status checked on every call. `url` is None in process."""

    # httpx.Client, or starlette's in-process client (built on an httpx fork: the two share no base class).
    http: Any
    url: str | None

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:  # only a remote service can be unreachable
            raise ServiceError("service_unreachable", f"{self.url or 'in-process service'}: {exc}") from exc
        if response.status_code >= 400:
            raise ServiceError.from_response(response)
        return response.json()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.request("POST", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


Connector = Callable[[Settings], AbstractContextManager[ServiceClient]]


# -- discovery ----------------------------------------------------------------------------------------------
def service_file(settings: Settings) -> Path:
    """Where `kb serve` records itself: the data folder, i.e. the store directory's parent."""
    return settings.store.path.parent / SERVICE_FILE


def record_service(settings: Settings, url: str) -> Path:
    path = service_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"url": url, "store_id": store_identity(settings.store), "pid": os.getpid()}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


def forget_service(settings: Settings) -> None:
    """Remove our record (only ours: another `kb serve` may have recorded itself since)."""
    path = service_file(settings)
    with suppress(OSError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()


def _recorded_url(settings: Settings) -> str | None:
    try:
        record = json.loads(service_file(settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = record.get("url") if isinstance(record, dict) else None
    return str(url) if url else None


def running_service(settings: Settings) -> str | None:
    """URL of a running service that owns our store: the configured or recorded one, checked by store id."""
    candidates = [settings.service_url, _recorded_url(settings), settings.effective_service_url()]
    wanted = store_identity(settings.store)
    for url in dict.fromkeys(u.rstrip("/") for u in candidates if u):
        try:
            response = httpx.get(f"{url}/healthz", timeout=PROBE_TIMEOUT_S)
            health = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            continue
        if isinstance(health, dict) and health.get("store_id") == wanted:
            return url
    return None


# -- the two ways to reach the routes -------------------------------------------------------------------
@contextmanager
def remote(url: str, token: str | None = None) -> Iterator[ServiceClient]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S, headers=headers) as http:
        yield ServiceClient(http, url)


@contextmanager
def in_process(app: FastAPI) -> Iterator[ServiceClient]:
    """The app in this process; entering runs its lifespan (opens the store), leaving closes it."""
    from starlette.testclient import TestClient

    # Server errors come back as the app's problem+json responses, as they would over the network.
    with TestClient(app, base_url="http://kb.local", raise_server_exceptions=False) as http:
        yield ServiceClient(http, None)


def local_operator(settings: Settings) -> Settings:
    """Settings of the app run in process: it listens nowhere, and whoever can open the store's files acts as the
    local admin (as `kb users` does on the database), whatever auth mode the served app uses."""
    auth = settings.auth.model_copy(update={"mode": "none"})
    server = settings.server.model_copy(update={"host": "127.0.0.1"})
    return settings.model_copy(update={"auth": auth, "server": server})


@contextmanager
def connect(settings: Settings) -> Iterator[ServiceClient]:
    """The default connector: the running service if it owns our store, else the app in process."""
    url = running_service(settings)
    if url:
        with remote(url, settings.token.get_secret_value() if settings.token else None) as client:
            yield client
        return
    from service.app import create_app

    with in_process(create_app(local_operator(settings))) as client:
        yield client
