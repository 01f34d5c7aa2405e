"""The deployment recipes parse, and every KB_* variable they set is a setting the service reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from service.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def kb_variables(node: Any) -> dict[str, Any]:
    """Every KB_* key anywhere in a parsed YAML document (mappings and `name:`/`value:` lists)."""
    found: dict[str, Any] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key.startswith("KB_"):
                found[key] = value
            found.update(kb_variables(value))
    elif isinstance(node, list):
        for item in node:
            found.update(kb_variables(item))
    return found


def unknown_setting(variable: str) -> str | None:
    """The part of `variable` that names no field of Settings (None if it names one)."""
    model: type[BaseModel] = Settings
    parts = variable.removeprefix("KB_").lower().split("__")
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return part
        annotation = field.annotation
        if i < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return "__".join(parts[i + 1 :])
            model = annotation
    return None


@pytest.mark.parametrize("name", ["compose.yaml", "helm/values.yaml"])
def test_deploy_file_sets_only_settings_the_service_reads(name: str) -> None:
    variables = kb_variables(yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8")))
    assert len(variables) >= 15, "the recipe configures store, embeddings, LLM, database and auth"
    unknown = {v: unknown_setting(v) for v in variables if unknown_setting(v)}
    assert unknown == {}


@pytest.mark.parametrize("name", ["compose.yaml", "helm/values.yaml"])
def test_deploy_file_values_validate_as_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    variables = kb_variables(yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8")))
    for variable, value in variables.items():
        if isinstance(value, str):  # secretEnv entries are references, not values
            monkeypatch.setenv(variable, value)
    settings = Settings()
    assert settings.store.backend == "server" and settings.store.replicas == 2
    assert settings.embedding.backend == "openai" and settings.embedding.base_url
    assert settings.llm.backend == "openai" and settings.auth.mode == "trusted_proxy"


def test_unknown_variable_is_reported() -> None:
    assert unknown_setting("KB_STORE__SHARDZ") == "shardz"
    assert unknown_setting("KB_NOPE") == "nope"
    assert unknown_setting("KB_STORE__SHARDS") is None


def test_compose_builds_the_service_from_a_dockerfile_whose_inputs_exist() -> None:
    """The `kb` image of compose.yaml is built from deploy/Dockerfile; every file it copies exists, the extras
    it installs are declared in pyproject.toml, and llama.cpp is compiled with portable flags."""
    import tomllib

    root = DEPLOY.parent
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    build = compose["services"]["kb"]["build"]
    dockerfile = (DEPLOY / build["context"] / build["dockerfile"]).resolve()
    assert dockerfile == DEPLOY / "Dockerfile"
    text = dockerfile.read_text(encoding="utf-8")
    instructions = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    copies = [source for line in instructions if line.startswith("COPY ") for source in line.split()[1:-1]]
    for source in copies:
        assert (root / source).exists(), source
    extras = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    installed = text.split('pip install --no-cache-dir ".[', 1)[1].split("]", 1)[0].split(",")
    assert installed and all(extra in extras for extra in installed), installed
    assert not any("march=native" in line for line in instructions)
    assert "KB_LLAMA_VARIANT=avx2" in text
