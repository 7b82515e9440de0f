"""Deterministic lazy generation: record i of day d derived from (seed, endpoint, d, i) alone.

Nothing is stored per record. Each record gets 8 64-bit words, `fmix64(key(seed, endpoint,
day) + (8 i + j) * golden)`, read as 32 16-bit draws; every field follows from those and the
seeded catalog. Records are generated CHUNK at a time as numpy columns (the hot path of a
listing), but record i depends on nothing but i: `created_ms` and `tag` recompute a single
record's first word in plain Python and agree with the columns exactly.

`created_at` grows with the index within a day (along a daily traffic curve), so a position
(day, index) is also the listing order and ids decode back to it. Times are epoch ms; NEVER
stands for "not yet and not ever" (a run cancelled before it started, a review nobody does).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from statistics import NormalDist

import numpy as np

from retab_sim.catalog import (
    CANCEL_REASONS,
    EXPERIMENT_ERRORS,
    FILES,
    METADATA_VARIANTS,
    RUN_ERRORS,
    TRIGGER_NAMES,
    Catalog,
)
from retab_sim.ids import TAG_SPACE

RUNS = "runs"
EXPERIMENT_RUNS = "experiment-runs"
ENDPOINTS = (RUNS, EXPERIMENT_RUNS)
PREFIX = {RUNS: "run_", EXPERIMENT_RUNS: "exprun_"}
_KIND_CODE = {RUNS: 1, EXPERIMENT_RUNS: 2}

CHUNK = 512
DAY_MS = 86_400_000
NEVER = 1 << 62
UNIX_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_WORDS = 8

RUN_STATUSES = ("completed", "error", "cancelled", "awaiting_review", "pending", "running")
EXPERIMENT_STATUSES = ("completed", "error", "cancelled", "queued", "pending", "running")
COMPLETED, ERROR, CANCELLED, AWAITING_REVIEW, PENDING, RUNNING = range(6)
QUEUED = 3  # experiment runs use code 3 for queued (they are never awaiting review)

# Relative traffic per UTC hour: quiet nights, busy office hours.
_RUN_HOURS = (2, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 10, 11, 12, 11, 10, 8, 6, 5, 4, 3, 3, 2)
_EXPERIMENT_HOURS = (1, 1, 1, 1, 1, 1, 2, 3, 8, 12, 12, 10, 8, 10, 12, 12, 10, 6, 3, 2, 1, 1, 1, 1)


def _cdf(weights: tuple[float, ...]) -> tuple[float, ...]:
    total = sum(weights)
    acc, out = 0.0, [0.0]
    for w in weights:
        acc += w
        out.append(acc / total)
    out[-1] = 1.0
    return tuple(out)


def _lognormal_table(sigma: float, size: int = 1024) -> np.ndarray:
    nd = NormalDist()
    return np.array([2.718281828459045 ** (sigma * nd.inv_cdf((k + 0.5) / size)) for k in range(size)])


_CDF = {RUNS: _cdf(_RUN_HOURS), EXPERIMENT_RUNS: _cdf(_EXPERIMENT_HOURS)}
_CDF_NP = {k: np.array(v) for k, v in _CDF.items()}
_DURATION = _lognormal_table(1.0)  # multiplier of a workflow's median duration
_QUEUE = _lognormal_table(1.5)  # multiplier of a typical pending time
_REVIEW = _lognormal_table(1.2)  # multiplier of ~20 min spent awaiting review
_N_DOCS = np.array([0, 1, 1, 1, 1, 1, 1, 2, 2, 3])
_SHIFTS = np.array([0, 16, 32, 48], dtype=np.uint64)


def _fmix(x: int) -> int:
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _fmix_np(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _ceil_second(ms: np.ndarray) -> np.ndarray:
    return -(-ms // 1000) * 1000


class Columns:
    """Fields of `n` consecutive records of one endpoint and day, as numpy columns."""

    kind: str
    day: int
    start: int  # index of the first record
    n: int
    tag: np.ndarray
    created: np.ndarray
    started: np.ndarray
    completed: np.ndarray
    final: np.ndarray
    wf: np.ndarray
    trigger: np.ndarray
    docs_form: np.ndarray
    ts_style: np.ndarray

    def status(self, now: int) -> np.ndarray:
        """Status codes at `now` (see RUN_STATUSES / EXPERIMENT_STATUSES)."""
        raise NotImplementedError

    def settled(self, now: int) -> np.ndarray:
        """Whether each record will never change again after `now`."""
        raise NotImplementedError

    def duration(self, now: int) -> np.ndarray:
        """completed - started in ms where both are visible at `now`, else -1."""
        visible = (self.completed <= now) & (self.started < NEVER)
        return np.where(visible, self.completed - self.started, -1)


class RunColumns(Columns):
    """Workflow runs as columns."""

    kind = RUNS
    review_at: np.ndarray
    review_end: np.ndarray
    vgen: np.ndarray  # the workflow release the run used
    err: np.ndarray
    step: np.ndarray
    variant: np.ndarray
    cancel: np.ndarray
    inputs: np.ndarray  # 0 present, 1 null, 2 missing
    n_docs: np.ndarray
    files: np.ndarray  # (n, 3)
    file_ids: np.ndarray  # uint64
    json_data: np.ndarray
    metadata: np.ndarray  # variant, -1 for null

    def status(self, now: int) -> np.ndarray:
        """Status codes at `now`."""
        in_review = (self.review_at <= now) & (now < self.review_end)
        return np.where(
            self.completed <= now,
            self.final,
            np.where(self.started > now, PENDING, np.where(in_review, AWAITING_REVIEW, RUNNING)),
        )

    def settled(self, now: int) -> np.ndarray:
        """Finished, or stuck awaiting a review that never comes."""
        return (self.completed <= now) | ((self.completed == NEVER) & (self.review_at <= now))


class ExperimentColumns(Columns):
    """Experiment runs as columns."""

    kind = EXPERIMENT_RUNS
    queued_at: np.ndarray
    exp: np.ndarray
    block: np.ndarray  # index into the experiment's blocks
    n_consensus: np.ndarray
    draft_day: np.ndarray  # -1 unless the run used a draft (then the draft's day ordinal)
    vgen: np.ndarray
    total_docs: np.ndarray
    final_docs: np.ndarray
    error_count: np.ndarray
    score: np.ndarray  # NaN: no score
    err: np.ndarray
    with_details: np.ndarray
    cancel: np.ndarray
    revision: np.ndarray
    duration_null: np.ndarray
    parent: np.ndarray  # index of a workflow run of the same day, or -1
    parent_tag: np.ndarray
    has_bv: np.ndarray
    mv_version: np.ndarray  # 0: no metrics validity fingerprint
    rescore_at: np.ndarray  # when the score is revised (NEVER: it is not)
    rescore: np.ndarray  # the revised score

    def status(self, now: int) -> np.ndarray:
        """Status codes at `now`."""
        return np.where(
            self.completed <= now,
            self.final,
            np.where(self.queued_at > now, PENDING, np.where(self.started > now, QUEUED, RUNNING)),
        )

    def settled(self, now: int) -> np.ndarray:
        """Finished, and any revision of the score made."""
        return (self.completed <= now) & ((self.rescore_at == NEVER) | (self.rescore_at <= now))


@dataclass(frozen=True)
class LateChanges:
    """Changes long after creation: reviews that last days, scores revised after the run finished."""

    long_review_rate: float = 0.0
    long_review_max_days: int = 90
    rescore_rate: float = 0.0
    rescore_max_days: int = 20
    instant: bool = False  # runs are final from their creation


class Generator:
    """Derives any record of either endpoint from the seed, on demand."""

    def __init__(
        self,
        seed: int,
        catalog: Catalog,
        start: date,
        per_day: dict[str, int],
        changes: LateChanges = LateChanges(),
    ) -> None:
        self.seed = seed
        self.changes = changes
        self.catalog = catalog
        self.start_ordinal = start.toordinal()
        self.per_day = per_day
        self._keys: dict[tuple[str, int], int] = {}
        wfs = catalog.workflows
        self._wf_table = np.array([wf.index for wf in catalog.workflow_table])
        self._phase = np.array([wf.release_phase for wf in wfs])
        self._release = np.array([wf.release_days for wf in wfs])
        self._median = np.array([wf.median_ms for wf in wfs], dtype=np.float64)
        self._error_rate = np.array([wf.error_rate for wf in wfs])
        self._cancel_rate = np.array([wf.cancel_rate for wf in wfs])
        self._review_rate = np.array([wf.review_rate for wf in wfs])
        self._stuck_rate = np.array([wf.stuck_review_rate for wf in wfs])
        self._n_steps = np.array([len(wf.steps) for wf in wfs])
        self._n_start = np.array([len(wf.start_blocks) for wf in wfs])
        self._has_json = np.array([wf.json_block is not None for wf in wfs])
        trigger_code = {t: i for i, t in enumerate(TRIGGER_NAMES)}
        self._triggers = np.array([[trigger_code[t] for t in wf.triggers] for wf in wfs])
        exps = catalog.experiments
        self._exp_table = np.array([catalog.experiments.index(e) for e in catalog.experiment_table])
        self._exp_wf = np.array([e.workflow.index for e in exps])
        self._exp_blocks = np.array([len(e.blocks) for e in exps])
        self._exp_n = np.array([e.n_consensus for e in exps])
        self._exp_size = np.array([e.dataset_size for e in exps])
        self._exp_per_doc = np.array([e.per_doc_ms for e in exps])

    def count(self, kind: str, day: int) -> int:
        """How many records that day has once it is over."""
        return self.per_day[kind] if day >= self.start_ordinal else 0

    @staticmethod
    def day_start_ms(day: int) -> int:
        """Epoch ms of 00:00 UTC on that day."""
        return (day - UNIX_EPOCH_ORDINAL) * DAY_MS

    def _key(self, kind: str, day: int) -> int:
        key = self._keys.get((kind, day))
        if key is None:
            key = _fmix((self.seed & _M64) ^ _fmix((_KIND_CODE[kind] << 40) ^ (day & 0xFFFFFFFF)))
            self._keys[(kind, day)] = key
        return key

    def _word0(self, kind: str, day: int, index: int) -> int:
        return _fmix((self._key(kind, day) + index * _WORDS * _GOLDEN) & _M64)

    def created_ms(self, kind: str, day: int, index: int) -> int:
        """When record `index` of that day is created (epoch ms); increasing in `index`."""
        h0 = self._word0(kind, day, index) & 0xFFFF
        u = (index + 0.05 + 0.9 * h0 / 65536.0) / self.per_day[kind]
        cdf = _CDF[kind]
        hour = bisect_right(cdf, u) - 1
        frac = (u - cdf[hour]) / (cdf[hour + 1] - cdf[hour])
        return (day - UNIX_EPOCH_ORDINAL) * DAY_MS + int((hour + frac) * 3_600_000)

    def tag(self, kind: str, day: int, index: int) -> int:
        """The id tag of a record (see ids.py)."""
        w = self._word0(kind, day, index)
        return ((((w >> 16) & 0xFFFF) << 16) | ((w >> 32) & 0xFFFF)) % TAG_SPACE

    def _draws(self, kind: str, day: int, idx: np.ndarray) -> np.ndarray:
        ctr = idx.astype(np.uint64)[:, None] * np.uint64(_WORDS) + np.arange(_WORDS, dtype=np.uint64)[None, :]
        words = _fmix_np(np.uint64(self._key(kind, day)) + ctr * np.uint64(_GOLDEN))
        h = (words[:, :, None] >> _SHIFTS) & np.uint64(0xFFFF)
        return h.reshape(len(idx), _WORDS * 4).astype(np.int64).T  # h[k] is draw k of every record

    def _created(self, kind: str, day: int, idx: np.ndarray, h0: np.ndarray) -> np.ndarray:
        u = (idx + 0.05 + 0.9 * h0 / 65536.0) / self.per_day[kind]
        cdf = _CDF_NP[kind]
        hour = np.searchsorted(cdf, u, side="right") - 1
        frac = (u - cdf[hour]) / (cdf[hour + 1] - cdf[hour])
        return (day - UNIX_EPOCH_ORDINAL) * DAY_MS + ((hour + frac) * 3_600_000).astype(np.int64)

    def columns(self, kind: str, day: int, start: int, n: int) -> Columns:
        """Records start .. start+n-1 of that day."""
        if kind == RUNS:
            return self._runs(day, start, n)
        return self._experiment_runs(day, start, n)

    def _runs(self, day: int, start: int, n: int) -> RunColumns:
        c = RunColumns()
        c.day, c.start, c.n = day, start, n
        idx = np.arange(start, start + n, dtype=np.int64)
        h = self._draws(RUNS, day, idx)
        c.tag = ((h[1] << 16) | h[2]) % TAG_SPACE
        c.created = created = self._created(RUNS, day, idx, h[0])
        c.wf = wf = self._wf_table[h[3] >> 6]
        gen = (day + self._phase[wf]) // self._release[wf]
        c.vgen = gen - np.where(h[4] < 52429, 0, np.where(h[4] < 62259, 1, 2))  # 80% current, 15%, 5%
        c.trigger = self._triggers[wf, h[5] >> 6]
        queue = (400 * _QUEUE[h[6] >> 6]).astype(np.int64)
        queue += np.where(h[7] < 1966, 60_000 + h[8] * 9, 0)  # 3%: a backlog, 1 to 10 minutes pending
        duration = (self._median[wf] * _DURATION[h[9] >> 6]).astype(np.int64)
        duration *= np.where(h[10] < 1311, 5 + h[11] % 60, 1)  # 2%: the long tail, up to hours
        whole = h[12] < 26214  # 40% of runs start and end on whole seconds
        begin = np.where(whole, _ceil_second(created + queue), created + queue)
        outcome = h[13] / 65536.0
        is_error = outcome < self._error_rate[wf]
        is_cancel = ~is_error & (outcome < self._error_rate[wf] + self._cancel_rate[wf])
        review_u = h[18] / 65536.0
        reviewed = ~is_error & ~is_cancel & (review_u < self._review_rate[wf])
        stuck = reviewed & (review_u < self._stuck_rate[wf])
        early_cancel = is_cancel & (h[18] < 19661)  # 30% of cancellations happen before the start
        c.review_at = np.where(reviewed, begin + (duration * 0.6).astype(np.int64), NEVER)
        review_end = c.review_at + (1_200_000 * _REVIEW[h[19] >> 6]).astype(np.int64)
        mix = (h[25] * 40503 + h[20] * 2654435761 + h[27]) & 0xFFFF  # a draw no other field uses alone
        long_review = reviewed & ~stuck & (mix < int(self.changes.long_review_rate * 65536))
        long_days = 1 + (h[26] + h[24]) % self.changes.long_review_max_days
        review_end = np.where(long_review, c.review_at + long_days * DAY_MS, review_end)
        c.review_end = np.where(reviewed & ~stuck, review_end, NEVER)
        partial = begin + np.maximum(50, (duration * h[17]) >> 16)
        completed = np.where(reviewed, review_end + (duration * 0.4).astype(np.int64), begin + duration)
        completed = np.where(is_error | is_cancel, partial, completed)
        completed = np.where(early_cancel, created + np.maximum(1, queue // 2), completed)
        completed = np.where(whole & ~early_cancel, _ceil_second(completed), completed)
        c.completed = np.where(stuck, NEVER, completed)
        c.started = np.where(early_cancel, NEVER, begin)
        c.final = np.where(
            is_error, ERROR, np.where(is_cancel, CANCELLED, np.where(stuck, AWAITING_REVIEW, COMPLETED))
        )
        if self.changes.instant:
            c.started = np.where(early_cancel, NEVER, created)
            c.completed = created.copy()
            c.review_at = np.full(n, NEVER, dtype=np.int64)
            c.review_end = np.full(n, NEVER, dtype=np.int64)
            c.final = np.where(c.final == AWAITING_REVIEW, COMPLETED, c.final)
        c.err = h[14] % len(RUN_ERRORS)
        c.step = h[15] % self._n_steps[wf]
        c.variant = h[16] % 5
        c.cancel = h[14] % len(CANCEL_REASONS)
        c.inputs = np.where(h[25] < 1966, 1, np.where(h[25] < 3932, 2, 0))  # 3% null, 3% missing
        c.n_docs = np.minimum(_N_DOCS[h[20] % 10], self._n_start[wf])
        c.files = np.stack([h[21], h[22], h[23]], axis=1) % len(FILES)
        q = h[28:32].astype(np.uint64)
        c.file_ids = (q[0] << np.uint64(48)) | (q[1] << np.uint64(32)) | (q[2] << np.uint64(16)) | q[3]
        c.json_data = np.where(self._has_json[wf], h[24] % 3, 0)
        c.metadata = np.where(
            h[26] < 16384, -1, np.where(h[26] < 19661, 0, 1 + h[27] % (METADATA_VARIANTS - 1))
        )
        c.docs_form = (h[27] & 0x100) != 0
        c.ts_style = (h[27] >> 9) & 3
        return c

    def _experiment_runs(self, day: int, start: int, n: int) -> ExperimentColumns:
        c = ExperimentColumns()
        c.day, c.start, c.n = day, start, n
        idx = np.arange(start, start + n, dtype=np.int64)
        h = self._draws(EXPERIMENT_RUNS, day, idx)
        c.tag = ((h[1] << 16) | h[2]) % TAG_SPACE
        c.created = created = self._created(EXPERIMENT_RUNS, day, idx, h[0])
        exp = c.exp = self._exp_table[h[3] >> 6]
        wf = c.wf = self._exp_wf[exp]
        c.block = h[4] % self._exp_blocks[exp]
        c.n_consensus = np.where(h[5] < 52429, self._exp_n[exp], np.array([3, 5, 7])[h[5] % 3])
        gen = (day + self._phase[wf]) // self._release[wf]
        draft = h[6] < 19661  # 30% of experiment runs are on a draft
        c.draft_day = np.where(draft, day - h[7] % 5, -1)
        c.vgen = gen + draft
        c.trigger = np.where(h[8] < 45875, 0, np.where(h[8] < 62259, 1, np.where(h[8] < 64880, 2, -1)))
        c.revision = (day + self._phase[wf]) // 9
        c.total_docs = self._exp_size[exp] + c.revision % 7
        c.queued_at = created + 200 + h[9] % 3000
        begin = c.queued_at + (20_000 * _QUEUE[h[10] >> 6]).astype(np.int64)  # queued: ~20 s, long tail
        work = c.total_docs * self._exp_per_doc[exp] * c.n_consensus // 4
        duration = np.maximum(1000, (work * (0.6 + 0.8 * h[11] / 65536.0)).astype(np.int64))
        frac = h[13] / 65536.0
        is_error = h[12] < 5243  # 8%
        is_cancel = ~is_error & (h[12] < 7864)  # 4%
        early_cancel = is_cancel & (frac < 0.3)
        partial_docs = (c.total_docs * frac).astype(np.int64)
        c.started = np.where(early_cancel, NEVER, begin)
        c.completed = np.where(
            is_error | is_cancel,
            np.where(
                early_cancel, c.queued_at + 500 + h[15] % 60_000, begin + np.maximum(1, duration * frac)
            ),
            begin + duration,
        ).astype(np.int64)
        c.final = np.where(is_error, ERROR, np.where(is_cancel, CANCELLED, COMPLETED))
        if self.changes.instant:
            c.queued_at = created.copy()
            c.started = np.where(early_cancel, NEVER, created)
            c.completed = created.copy()
        c.final_docs = np.where(is_error | is_cancel, np.where(early_cancel, 0, partial_docs), c.total_docs)
        c.error_count = np.where(
            is_error,
            np.maximum(1, c.total_docs - partial_docs),
            np.where(is_cancel | (h[16] < 52429), 0, 1 + h[16] % 3),
        )
        level = np.array([self.catalog.score_level(int(e), int(g)) for e, g in zip(exp, c.vgen, strict=True)])
        score = np.round(np.clip(level + (h[18] / 65536.0 - 0.5) * 0.06, 0.0, 1.0), 4)
        c.score = np.where(~is_error & ~is_cancel & (h[17] >= 7864), score, np.nan)  # 12% never scored
        mix = (h[24] * 40503 + h[25] * 2654435761 + h[26]) & 0xFFFF
        rescored = ~np.isnan(c.score) & (mix < int(self.changes.rescore_rate * 65536))
        delay = (1 + (h[27] + h[28]) % self.changes.rescore_max_days) * DAY_MS
        c.rescore_at = np.where(rescored, c.completed + delay, NEVER)
        shift = np.where(h[29] & 1, 1, -1) * (0.02 + 0.1 * h[30] / 65536.0)
        c.rescore = np.round(np.clip(c.score + shift, 0.0, 1.0), 4)
        c.err = h[14] % len(EXPERIMENT_ERRORS)
        c.with_details = h[15] < 45875
        c.cancel = h[14] % len(CANCEL_REASONS)
        c.duration_null = h[19] < 3277
        runs_per_day = self.per_day[RUNS]
        c.parent = np.where((h[20] < 13107) & (runs_per_day > 0), h[31] % max(1, runs_per_day), -1)
        c.parent_tag = np.zeros(n, dtype=np.int64)
        if runs_per_day:
            parents = np.maximum(c.parent, 0)
            stride = np.uint64((_WORDS * _GOLDEN) & _M64)
            w = _fmix_np(np.uint64(self._key(RUNS, day)) + parents.astype(np.uint64) * stride)
            hi = ((w >> np.uint64(16)) & np.uint64(0xFFFF)).astype(np.int64)
            lo = ((w >> np.uint64(32)) & np.uint64(0xFFFF)).astype(np.int64)
            c.parent_tag = ((hi << 16) | lo) % TAG_SPACE
        c.has_bv = h[21] < 45875
        c.mv_version = np.where(h[22] < 45875, 1 + h[22] % 2, 0)
        c.docs_form = (h[23] & 1) != 0
        c.ts_style = (h[23] >> 1) & 3
        return c
