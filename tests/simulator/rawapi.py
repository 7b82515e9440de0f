"""A raw HTTP client of the simulator's API (requests, no retries), for tests that look at the wire."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from retab_sim import Simulator

PATHS = {"runs": "/v1/workflows/runs", "experiment-runs": "/v1/workflows/experiments/runs"}


class RawApi:
    """GETs against one simulator with its key; no retries, no parsing beyond what is asked."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.session.headers["Api-Key"] = sim.key

    def get(self, path: str, **params: Any) -> requests.Response:
        """One GET of a path under the base URL."""
        return self.session.get(self.sim.base_url + path, params=params, timeout=30)

    def page(self, endpoint: str, **params: Any) -> dict[str, Any]:
        """One page of a listing, which must succeed."""
        response = self.get(PATHS[endpoint], **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def walk(self, endpoint: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every page of a listing, following `after` until it is null or a page is empty."""
        params.setdefault("limit", 100)
        while True:
            body = self.page(endpoint, **params)
            yield body
            after = body["list_metadata"]["after"]
            if after is None or not body["data"]:
                return
            params["after"] = after

    def records(self, endpoint: str, **params: Any) -> list[dict[str, Any]]:
        """All records of a listing, in listing order."""
        return [r for body in self.walk(endpoint, **params) for r in body["data"]]

    def ids(self, endpoint: str, **params: Any) -> list[str]:
        """The ids of a listing, in listing order."""
        return [r["id"] for r in self.records(endpoint, **params)]
