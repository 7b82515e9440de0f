"""The seeded world the runs come from: workflows, their blocks and versions, experiments, and value pools."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TypeVar

import numpy as np
import orjson

N_WORKFLOWS = 36
TABLE_SIZE = 1024  # weighted choices are lookups in a table of this size
METADATA_VARIANTS = 24  # distinct metadata objects per workflow
T = TypeVar("T")

RUN_TRIGGERS = ("manual", "api", "schedule", "webhook", "email", "restart")  # the filter's enum
TRIGGER_NAMES = (*RUN_TRIGGERS, "custom")  # what records may say
EXPERIMENT_BLOCK_KINDS = ("extract", "classifier", "split", "for_each")

FILES: tuple[tuple[str, str], ...] = (
    ("invoice.pdf", "application/pdf"),
    ("Invoice 2026-04 (copy).pdf", "application/pdf"),
    ("scan_blurry.pdf", "application/pdf"),
    ("Факту́ра №17.pdf", "application/pdf"),
    ("請求書_2026年5月.pdf", "application/pdf"),
    (
        'O\'Brien "final" contract.docx',
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("receipt 🧾 lunch.jpg", "image/jpeg"),
    ("IMG_0042.HEIC", "image/heic"),
    ("bank statement – März.pdf", "application/pdf"),
    ("résumé Zoë Çelik.pdf", "application/pdf"),
    ("purchase_order_#4471.png", "image/png"),
    ("  leading and trailing spaces  .pdf", "application/pdf"),
    ("email from supplier.eml", "message/rfc822"),
    ("line-items.csv", "text/csv"),
    ("Q1 report.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("fax_20260501_0930.tiff", "image/tiff"),
    ("notes.txt", "text/plain"),
    ("document", "application/octet-stream"),
    ("שטר מטען.pdf", "application/pdf"),
    ("a\\b back\\slash.pdf", "application/pdf"),
    ("packing list; v2, final.PDF", "application/pdf"),
    ("screenshot 2026-05-01 at 14.30.00.png", "image/png"),
    ("facture-n°2026-118.pdf", "application/pdf"),
    ("Lieferschein_Müller_GmbH.pdf", "application/pdf"),
    ("bill_of_lading.webp", "image/webp"),
    ("contract.html", "text/html"),
    ("invoice.pdf", "application/octet-stream"),
    ("W-9 form.pdf", "application/pdf"),
)

# (stage, category, message, error_code, attributable to a step)
RUN_ERRORS: tuple[tuple[str | None, str | None, str, str | None, bool], ...] = (
    ("execution", None, "Extract block failed: schema validation", "SCHEMA_VALIDATION", True),
    ("execution", "transient", "Model provider timed out after 120s", "PROVIDER_TIMEOUT", True),
    ("execution", "quota", "Monthly page quota exceeded", "QUOTA_EXCEEDED", True),
    ("execution", "permanent", "Classifier returned no category above threshold", "NO_CATEGORY", True),
    ("document_fetch", "transient", "Could not download document: 503 from storage", "FETCH_FAILED", False),
    ("document_fetch", "permanent", "Document is password-protected", "ENCRYPTED_DOCUMENT", False),
    ("input_collection", "permanent", "Missing required input document", "MISSING_INPUT", False),
    ("registry_lookup", "permanent", "Workflow version not found", "VERSION_NOT_FOUND", False),
    ("output_storage", "transient", "Failed to persist block outputs", "STORAGE_WRITE", True),
    ("routing", "permanent", "No route matched the classifier output", "NO_ROUTE", True),
    ("history_payload", "permanent", "Run history payload exceeds 16 MB", "PAYLOAD_TOO_LARGE", False),
    (None, None, "Internal error", None, False),
)

EXPERIMENT_ERRORS: tuple[tuple[str, str | None], ...] = (
    ("Consensus scoring failed for 3 documents", "CONSENSUS_FAILED"),
    ("Model provider rate limit exceeded", "RATE_LIMITED"),
    ("Ground truth missing for block output", "MISSING_GROUND_TRUTH"),
    ("Experiment timed out after 3600s", None),
)

CANCEL_REASONS: tuple[str | None, ...] = (
    "Cancelled by user",
    "Superseded by a newer run",
    None,
    "Workflow version archived",
    "Timed out waiting for review after 72h",
    "Annulé par l'utilisateur",
)

METADATA_VALUES: dict[str, tuple[str, ...]] = {
    "customer_id": ("cus_8f2k1", "cus_a93lq", "cus_00017", "cus_zz9x2"),
    "env": ("prod", "staging"),
    "source": ("gmail", "outlook", "sftp", "upload", "api"),
    "batch": ("2026-05-a", "2026-05-b", "nightly"),
    "region": ("eu-west-1", "us-east-1"),
    "uploader": ("zoë@example.com", "ops-bot", "j.o'neil"),
    "external_ref": ("PO-4471", "INV 2026/118", "ref with spaces"),
}

_STEP_NAMES = {
    "extract": ("Extract header", "Extract line items", "Extract totals", "Extract parties"),
    "classifier": ("Classify document", "Route by type", "Detect language"),
    "split": ("Split bundle", "Split pages"),
    "for_each": ("For each line item", "For each page"),
}


def hex_id(seed: int, *parts: object, n: int = 12) -> str:
    """A stable hex string of `n` characters derived from the seed and parts."""
    text = ":".join(str(p) for p in (seed, *parts)).encode()
    return hashlib.blake2b(text, digest_size=(n + 1) // 2).hexdigest()[:n]


def weighted_table(items: list[T], weights: list[float]) -> tuple[T, ...]:
    """A TABLE_SIZE-long tuple in which each item appears in proportion to its weight."""
    total = sum(weights)
    table: list[T] = []
    acc = 0.0
    for item, w in zip(items, weights, strict=True):
        acc += w
        while len(table) < round(acc / total * TABLE_SIZE):
            table.append(item)
    return tuple(table)


@dataclass(frozen=True)
class Step:
    """A processing block of a workflow."""

    block_id: str
    name: str
    kind: str


@dataclass(frozen=True)
class Workflow:
    """A workflow: its blocks, release cadence, trigger mix, durations and failure rates."""

    index: int
    id: str
    start_blocks: tuple[str, ...]
    json_block: str | None
    steps: tuple[Step, ...]
    review_blocks: tuple[str, ...]
    triggers: tuple[str, ...]  # weighted table
    release_days: int
    release_phase: int
    median_ms: int
    error_rate: float
    cancel_rate: float
    review_rate: float
    stuck_review_rate: float
    metadata_variants: tuple[tuple[tuple[str, str], ...], ...]  # variant 0 is {}


@dataclass(frozen=True)
class Experiment:
    """An experiment: one workflow, the blocks it evaluates, its dataset and its score level."""

    id: str
    workflow: Workflow
    blocks: tuple[Step, ...]
    n_consensus: int
    dataset_size: int
    base_score: float
    per_doc_ms: int


class Catalog:
    """Everything about the world that does not vary per run, derived from the seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        rng = random.Random(f"catalog:{seed}")
        self.workflows = tuple(self._make_workflow(rng, i) for i in range(N_WORKFLOWS))
        popularity = [1.0 / (rank + 1) ** 0.9 for rank in range(N_WORKFLOWS)]
        rng.shuffle(popularity)
        self.workflow_table = weighted_table(list(self.workflows), popularity)
        experiments = [
            self._make_experiment(rng, wf, k)
            for wf in self.workflows
            for k in range(rng.choice((0, 0, 1, 1, 2, 3)))
        ]
        self.experiments = tuple(experiments)
        self.experiment_table = weighted_table(experiments, [rng.uniform(0.2, 3.0) for _ in experiments])
        # lookups for filters and rendering
        self.workflow_index = {wf.id: wf.index for wf in self.workflows}
        self.experiment_index = {e.id: i for i, e in enumerate(experiments)}
        self.block_codes: dict[str, int] = {}
        self.block_code_table = np.full((max(1, len(experiments)), 3), -1)  # [experiment, block] -> code
        for i, e in enumerate(experiments):
            for b, step in enumerate(e.blocks):
                self.block_code_table[i, b] = self.block_codes.setdefault(
                    step.block_id, len(self.block_codes)
                )
        self.trigger_code = {t: i for i, t in enumerate(TRIGGER_NAMES)}
        self.trigger_json = tuple(f'{{"type":"{t}"}}' for t in TRIGGER_NAMES)
        self.metadata_json = tuple(  # [workflow][variant + 1], "null" first
            ("null", *(orjson.dumps(dict(pairs)).decode() for pairs in wf.metadata_variants))
            for wf in self.workflows
        )
        self.doc_heads = tuple(
            tuple(f'"{b}":{{"id":"file_' for b in wf.start_blocks) for wf in self.workflows
        )

    def _make_workflow(self, rng: random.Random, i: int) -> Workflow:
        n_start = rng.choice((1, 1, 1, 2, 2, 3))
        start_blocks = ("start-1", "start-invoice", "start-attachment")[:n_start]
        if rng.random() < 0.3:
            start_blocks = tuple(
                f"start_document-{hex_id(self.seed, 'start', i, k, n=4)}" for k in range(n_start)
            )
        steps = []
        for k in range(rng.randint(2, 5)):
            kind = rng.choice(("extract", "extract", "extract", "classifier", "split", "for_each"))
            name = rng.choice(_STEP_NAMES[kind])
            block_id = f"{kind.replace('_', '-')}-{'block-' if rng.random() < 0.3 else ''}{k + 1}"
            steps.append(Step(block_id, name, kind))
        review: tuple[str, ...] = ()
        if rng.random() < 0.4:
            review = ("review-1", "hil-approval") if rng.random() < 0.3 else ("review-1",)
        dominant = rng.choice(("api", "api", "email", "schedule", "webhook", "manual"))
        trig_weights = dict.fromkeys(RUN_TRIGGERS, 0.02) | {"manual": 0.08, "restart": 0.03, "custom": 0.01}
        trig_weights[dominant] += 0.8
        triggers = list(trig_weights)
        weights = list(trig_weights.values())
        return Workflow(
            index=i,
            id="wf_" + hex_id(self.seed, "wf", i, n=10),
            start_blocks=start_blocks,
            json_block="start-json-1" if rng.random() < 0.25 else None,
            steps=tuple(steps),
            review_blocks=review,
            triggers=weighted_table(triggers, weights),
            release_days=rng.randint(5, 40),
            release_phase=rng.randint(0, 40),
            median_ms=int(rng.lognormvariate(9.2, 0.9)),  # ~10 s, from about 2 s to a minute
            error_rate=rng.choice((0.02, 0.04, 0.06, 0.1, 0.2)),
            cancel_rate=rng.choice((0.005, 0.01, 0.03)),
            review_rate=0.35 if review else 0.0,
            stuck_review_rate=0.02 if review else 0.0,
            metadata_variants=self._metadata_variants(rng),
        )

    @staticmethod
    def _metadata_variants(rng: random.Random) -> tuple[tuple[tuple[str, str], ...], ...]:
        keys = rng.sample(sorted(METADATA_VALUES), rng.randint(1, 4))
        variants: list[tuple[tuple[str, str], ...]] = [()]
        for _ in range(METADATA_VARIANTS - 1):
            chosen = keys[: rng.randint(1, len(keys))]
            variants.append(tuple((k, rng.choice(METADATA_VALUES[k])) for k in chosen))
        return tuple(variants)

    def _make_experiment(self, rng: random.Random, wf: Workflow, k: int) -> Experiment:
        candidates = [s for s in wf.steps if s.kind in EXPERIMENT_BLOCK_KINDS]
        blocks = tuple(rng.sample(candidates, min(len(candidates), rng.randint(1, 3))))
        return Experiment(
            id="exp_" + hex_id(self.seed, "exp", wf.index, k, n=10),
            workflow=wf,
            blocks=blocks,
            n_consensus=rng.choice((3, 3, 5, 5, 5, 7)),
            dataset_size=rng.randint(5, 150),
            base_score=rng.uniform(0.55, 0.92),
            per_doc_ms=rng.randint(1500, 20000),
        )

    @lru_cache(maxsize=65536)  # noqa: B019 - the catalog lives as long as the simulator
    def version_id(self, workflow_index: int, generation: int) -> str:
        """The content-addressed id of one release of a workflow."""
        return "ver_" + hex_id(self.seed, "ver", workflow_index, generation)

    @lru_cache(maxsize=65536)  # noqa: B019
    def draft_id(self, day_ordinal: int) -> str:
        """A draft version id named after its day, as experiments on drafts show them."""
        return "draft_" + date.fromordinal(day_ordinal).strftime("%Y_%m_%d")

    def metadata_matches(self, wanted: dict[str, str]) -> np.ndarray:
        """[workflow, variant + 1] -> whether that metadata contains `wanted` (column 0: null metadata)."""
        table = np.zeros((len(self.workflows), METADATA_VARIANTS + 1), dtype=bool)
        for wf in self.workflows:
            for v, pairs in enumerate(wf.metadata_variants):
                meta = dict(pairs)
                table[wf.index, v + 1] = all(meta.get(k) == val for k, val in wanted.items())
        return table

    @lru_cache(maxsize=65536)  # noqa: B019
    def score_level(self, experiment: int, generation: int) -> float:
        """An experiment's typical score on one release: it drifts from release to release."""
        exp = self.experiments[experiment]
        h = int(hex_id(self.seed, "score", exp.id, generation, n=8), 16) / 16**8
        return min(0.99, max(0.05, exp.base_score + 0.24 * (h - 0.5)))

    @lru_cache(maxsize=65536)  # noqa: B019
    def fingerprint(self, *parts: object) -> str:
        """A stable 16-hex-digit fingerprint of the parts."""
        return hex_id(self.seed, *parts, n=16)
