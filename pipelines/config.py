"""Configuration from the environment: the public contract's variables and their defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.errors import MissingApiKey

DEFAULT_BASE_URL = "https://api.retab.com"
DEFAULT_DUCKDB_PATH = "warehouse/warehouse.duckdb"  # opened directly, its catalog is `warehouse`


@dataclass(frozen=True)
class Settings:
    """Everything a sync needs to know, read once from the environment."""

    api_key: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    duckdb_path: Path = Path(DEFAULT_DUCKDB_PATH)
    concurrency: int = 4
    requests_per_second: float = 20.0
    max_attempts: int = 8
    max_retry_seconds: float = 300.0
    lock_wait: float = 60.0
    lookback_days: int = 14

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read RETAB_API_KEY, RETAB_API_BASE_URL and RETAB_DUCKDB_PATH, then apply overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            "api_key": env.get("RETAB_API_KEY") or None,
            "base_url": env.get("RETAB_API_BASE_URL") or DEFAULT_BASE_URL,
            "duckdb_path": Path(env.get("RETAB_DUCKDB_PATH") or DEFAULT_DUCKDB_PATH),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def require_key(self) -> str:
        """The API key, or a MissingApiKey error that says what to do."""
        if not self.api_key:
            raise MissingApiKey()
        return self.api_key
