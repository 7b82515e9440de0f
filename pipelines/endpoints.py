"""The two Retab list endpoints, described as data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    """One Retab list endpoint and the warehouse table it feeds."""

    name: str  # the CLI's name for it: "runs" or "experiment-runs"
    path: str  # the list path, e.g. "/v1/workflows/runs"
    table: str  # the main table in schema `retab`
    terminal_statuses: frozenset[str]
    statuses: frozenset[str]  # values accepted by the `status`/`exclude_status` filters

    @property
    def open_statuses(self) -> frozenset[str]:
        """Statuses of runs that may still change."""
        return self.statuses - self.terminal_statuses


WORKFLOW_RUNS = Endpoint(
    name="runs",
    path="/v1/workflows/runs",
    table="workflow_runs",
    terminal_statuses=frozenset({"completed", "error", "failed", "cancelled"}),
    statuses=frozenset(
        {"pending", "queued", "running", "completed", "error", "failed", "awaiting_review", "cancelled"}
    ),
)

EXPERIMENT_RUNS = Endpoint(
    name="experiment-runs",
    path="/v1/workflows/experiments/runs",
    table="experiment_runs",
    terminal_statuses=frozenset({"completed", "error", "cancelled"}),
    statuses=frozenset({"pending", "queued", "running", "completed", "error", "cancelled"}),
)

ENDPOINTS: dict[str, Endpoint] = {e.name: e for e in (WORKFLOW_RUNS, EXPERIMENT_RUNS)}
