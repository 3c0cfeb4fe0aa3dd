"""Finding, reading and validating `config.toml`.

Every `infoshare` command uses `resolve_config_path`: `--config PATH`, else
`INFOSHARE_CONFIG`, else `./config.toml`. Secrets may come from the environment
so they need not be written into the file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Mapping

from marshmallow import ValidationError

from schemas.error_messages import CONFIG_UNKNOWN_HINT, flatten_errors
from plugin.domain.configuration import Config
from schemas.config_toml import load_config_data

CONFIG_ENV = "INFOSHARE_CONFIG"
DEFAULT_CONFIG_PATH = "config.toml"

# Environment variable -> (section, key) it fills when set and non-empty.
SECRET_ENV = {
    "INFOSHARE_REDMINE_API_KEY": ("redmine", "api_key"),
    "INFOSHARE_WEBHOOK_SECRET": ("webhook", "secret"),
    "INFOSHARE_WEBHOOK_PREVIOUS_SECRET": ("webhook", "previous_secret"),
}


class ConfigError(Exception):
    """The configuration cannot be used. `problems` are lines "key: what is wrong"."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        head = f"Configuration {self.source} cannot be used:"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


def resolve_config_path(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(explicit or environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def apply_secret_env(data: dict, environ: Mapping[str, str]) -> dict:
    """Secrets from the environment win over the file, so a file checked into a
    site's configuration management can leave them out."""
    merged = {section: dict(values) if isinstance(values, Mapping) else values for section, values in data.items()}
    for env, (section, key) in SECRET_ENV.items():
        value = environ.get(env, "")
        if value:
            target = merged.setdefault(section, {})
            if isinstance(target, dict):
                target[key] = value
    return merged


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    environ = os.environ if environ is None else environ
    config_path = resolve_config_path(str(path) if path else None, environ)
    source = str(config_path)
    try:
        raw = config_path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            source,
            [
                f"no file at {source}: copy config.example.toml to config.toml and edit it, "
                f"or pass --config PATH, or set {CONFIG_ENV}"
            ],
        ) from None
    except OSError as exc:
        raise ConfigError(source, [f"cannot be read: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(source, ["is not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [f"is not valid TOML: {exc}"]) from None
    try:
        return load_config_data(apply_secret_env(data, environ), source=str(config_path.resolve()))
    except ValidationError as exc:
        raise ConfigError(source, flatten_errors(exc.messages, unknown_hint=CONFIG_UNKNOWN_HINT)) from None
