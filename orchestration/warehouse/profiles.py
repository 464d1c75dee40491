"""Read connection settings from profiles/profiles.yml, the one place they live.

The file is rendered the way dbt renders it (`env_var()` with optional default), so the Python
warehouse client and dbt always connect to the same place with the same credentials.
"""

from __future__ import annotations

import os
from pathlib import Path

import jinja2
import yaml

PROFILE_NAME = "warecast"


class ProfileError(ValueError):
    pass


def _env_var(name: str, default: str | None = None) -> str:
    if name in os.environ:
        return os.environ[name]
    if default is not None:
        return default
    raise ProfileError(f"Environment variable {name} is required by profiles.yml but is not set.")


def _as_number(value: str) -> int | float:
    return float(value) if "." in str(value) else int(value)


def _render(node, env: jinja2.Environment):
    if isinstance(node, dict):
        return {key: _render(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_render(value, env) for value in node]
    if isinstance(node, str) and "{{" in node:
        rendered = env.from_string(node).render()
        return _as_number(rendered) if "as_number" in node else rendered
    return node


def load_target(profiles_dir: Path, target: str | None = None) -> dict:
    """The rendered output block for `target` (default: the profile's own target)."""
    path = Path(profiles_dir) / "profiles.yml"
    profile = yaml.safe_load(path.read_text())[PROFILE_NAME]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals["env_var"] = _env_var
    env.filters["as_number"] = lambda value: value
    target = target or _render(profile["target"], env)
    outputs = profile["outputs"]
    if target not in outputs:
        raise ProfileError(f"Target {target!r} is not in {path}; choose one of {sorted(outputs)}.")
    return {"target_name": target, **_render(outputs[target], env)}
