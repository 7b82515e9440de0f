"""The Retab list endpoints, described as data: one descriptor each, read by every layer.

Adding a third list endpoint means: one `Endpoint` here, one flattener in pipelines.transform
(named by `flattener`), and the DDL of its tables in pipelines/load/sql/schema.
"""

from __future__ import annotations

from dataclasses import dataclass

REJECTED_TABLE = "rejected_records"  # shared by every endpoint, keyed by (endpoint, day)


@dataclass(frozen=True)
class PartitionTable:
    """A table replaced per partition: its date column and the key that must be unique in a day."""

    name: str
    date_column: str
    key: tuple[str, ...]


@dataclass(frozen=True)
class Endpoint:
    """One Retab list endpoint: where it is, the tables it fills, how to flatten it, its statuses."""

    name: str  # the CLI's name for it: "runs" or "experiment-runs"
    path: str  # the list path, e.g. "/v1/workflows/runs"
    tables: tuple[PartitionTable, ...]  # the main table first; rejected_records is shared
    flattener: str  # the function of pipelines.transform that flattens its records
    terminal_statuses: frozenset[str]
    statuses: frozenset[str]  # values accepted by the `status`/`exclude_status` filters
    asset_key: tuple[str, ...]  # the Dagster asset that syncs it

    @property
    def table(self) -> str:
        """The main table in schema `retab`."""
        return self.tables[0].name

    @property
    def table_names(self) -> tuple[str, ...]:
        """Every table one of its partitions fills, rejected_records last."""
        return (*(t.name for t in self.tables), REJECTED_TABLE)

    @property
    def open_statuses(self) -> frozenset[str]:
        """Statuses of runs that may still change."""
        return self.statuses - self.terminal_statuses


WORKFLOW_RUNS = Endpoint(
    name="runs",
    path="/v1/workflows/runs",
    tables=(
        PartitionTable("workflow_runs", "created_date", ("id",)),
        PartitionTable("workflow_run_documents", "created_date", ("run_id", "start_block_id")),
    ),
    flattener="flatten_workflow_runs",
    terminal_statuses=frozenset({"completed", "error", "failed", "cancelled"}),
    statuses=frozenset(
        {"pending", "queued", "running", "completed", "error", "failed", "awaiting_review", "cancelled"}
    ),
    asset_key=("retab", "workflow_runs"),
)

EXPERIMENT_RUNS = Endpoint(
    name="experiment-runs",
    path="/v1/workflows/experiments/runs",
    tables=(PartitionTable("experiment_runs", "created_date", ("id",)),),
    flattener="flatten_experiment_runs",
    terminal_statuses=frozenset({"completed", "error", "cancelled"}),
    statuses=frozenset({"pending", "queued", "running", "completed", "error", "cancelled"}),
    asset_key=("retab", "experiment_runs"),
)

ENDPOINTS: dict[str, Endpoint] = {e.name: e for e in (WORKFLOW_RUNS, EXPERIMENT_RUNS)}
