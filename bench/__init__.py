"""The benchmark harness behind `make bench` (`python -m bench`): the figures issue 7 asks for.

    python -m bench                      every scenario, 3 repetitions, table + bench/results.json
    python -m bench --only views,startup  some of them (names below)
    python -m bench --repetitions 5

Scenarios (each figure is the median of the repetitions; the simulator serves from its own process):

    end_to_end    the engine's sync() of 7 days x (50,000 runs + 5,000 experiment runs), in a child
                  process (rows/s, peak RSS), and dlt's rest_api source on a slice of the same data
    latency       100 ms per page at concurrency 1, 2, 4, 8: rows/s and efficiency against the ideal
    flatten_load  what the sync does from page bytes (parse, flatten, spool, load) against a ceiling
                  on the same bytes: pyarrow's C++ JSON reader, Arrow compute, DuckDB
    big_day       one day of 1,000,000 runs: peak RSS of the sync process
    views         workflow_daily_health and run_durations over 10,000,000 generated runs
    startup       `retab-warehouse --help` wall time, and what the sync path imports

Profiling: pyinstrument samples the thread that started it, and the sync fetches and flattens in
worker threads, so profile a sync with py-spy (`.venv/bin/python -m pip install py-spy`):
`py-spy record --threads --native -f raw -o sync.txt -- .venv/bin/python -m bench.job < spec.json`
(`--gil` keeps only the samples that hold the GIL: where the Python time goes). pyinstrument suits
the single-threaded pieces: `pyinstrument -m bench --only views`.
"""
