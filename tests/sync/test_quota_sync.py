"""The sync at its defaults against an API with a request quota: it adapts and equals the API."""

from __future__ import annotations

import pytest

from pipelines.cli import main
from pipelines.config import Settings
from pipelines.endpoints import WORKFLOW_RUNS
from pipelines.extract.client import ClientConfig, RetabClient
from pipelines.extract.windows import iter_windows
from retab_sim import SimConfig, run_simulator

from .test_round_trip import DAYS, END, assert_equals_truth, sync_cli


# The unannounced quota lets half a second of requests through at once, not a second. The sync's ~60
# requests, slowed by the mild faults' own 429s, average ~8/s, so a bucket of 10 refused 0-6 of them
# (none on a loaded CI machine, even at 6/s) and the test proved nothing; half a second: 4-11.
@pytest.mark.parametrize(
    ("headers", "faults", "runs_per_day", "quota_burst"),
    [("none", "mild", 1500, 0.5), ("ietf", "mild", 1500, 1.0), ("none", "hostile", 600, 1.0)],
    ids=["quota-unannounced", "quota-announced", "quota-and-hostile-faults"],
)
def test_a_sync_under_a_quota_and_faults_equals_the_api(
    monkeypatch, tmp_path, headers, faults, runs_per_day, quota_burst
) -> None:
    config = SimConfig(
        seed=21, shape="mixed", faults=faults, end=END, days=3, runs_per_day=runs_per_day,
        quota_rps=10, quota_burst=quota_burst, quota_headers=headers, fault_rate_head_insert=0.0,
    )  # fmt: skip
    with run_simulator(config) as sim:
        assert sync_cli(monkeypatch, sim, tmp_path / "w.duckdb") == 0
        assert_equals_truth(tmp_path / "w.duckdb", sim)
        counters = sim.counters()
    refused = counters["faults"].get("quota_429", 0)
    if headers == "none" and faults == "mild":
        assert refused >= 1, f"the quota never refused: the test would prove nothing ({counters})"
    assert refused <= 0.3 * counters["requests_total"], counters


def test_refusals_seen_by_one_window_slow_every_window() -> None:
    config = SimConfig(seed=3, end=END, days=3, runs_per_day=900, quota_rps=20)
    with run_simulator(config) as sim:
        client = RetabClient(ClientConfig(api_key=sim.key, base_url=sim.base_url))
        with client:
            list(iter_windows(client, WORKFLOW_RUNS, DAYS, lambda day, pages, stats: sum(1 for _ in pages)))
            rate = client.rate_limiter.rate  # type: ignore[attr-defined]
            decreases = client.rate_limiter.decreases  # type: ignore[attr-defined]
    assert decreases >= 1
    assert rate < 60  # one rate for all three windows, brought down near the quota (unbounded before)


def test_max_rps_is_a_ceiling_from_the_command_line(monkeypatch, tmp_path) -> None:
    seen: list[Settings] = []
    import pipelines.sync.orchestrator as orchestrator

    real = orchestrator.sync

    def spy(settings, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(settings)
        return real(settings, *args, **kwargs)

    monkeypatch.setattr(orchestrator, "sync", spy)
    with run_simulator(SimConfig(seed=2, end=END, days=3, runs_per_day=10)) as sim:
        monkeypatch.setenv("RETAB_API_BASE_URL", sim.base_url)
        monkeypatch.setenv("RETAB_API_KEY", sim.key)
        monkeypatch.setenv("RETAB_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
        code = main(["sync", "--start", str(DAYS[0]), "--end", str(DAYS[0]), "--quiet", "--max-rps", "7.5"])
    assert code == 0 and seen[0].max_rps == 7.5
    with pytest.raises(SystemExit):
        main(["sync", "--start", str(DAYS[0]), "--end", str(DAYS[0]), "--max-rps", "0"])
