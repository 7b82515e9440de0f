"""Records as served: the SDK's form, the vendor pages' form, or both mixed in one listing.

sdk:   `workflow_id`/`workflow_version_id` at the top, `metadata`, `block_type`,
       `block_execution_fingerprint` and the SDK's other experiment fields; UTC timestamps with `Z`.
docs:  `workflow: {workflow_id, version_id}`, no `metadata`, `block_kind`, `definition_fingerprint`;
       timestamps in varied but equivalent forms (`Z`, `+02:00`, `+00:00`, `-05:00`, fractions).
mixed: each record in one of the two forms, chosen per record from the seed.

Records are written straight to JSON text from pre-escaped pieces (this is the hot path of a
listing); everything that is not per record is built once with orjson and kept.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import orjson

from retab_sim.catalog import CANCEL_REASONS, EXPERIMENT_ERRORS, FILES, RUN_ERRORS, Catalog
from retab_sim.chunk import Chunk
from retab_sim.data import (
    AWAITING_REVIEW,
    CANCELLED,
    DAY_MS,
    ERROR,
    EXPERIMENT_STATUSES,
    NEVER,
    RUN_STATUSES,
    RUNS,
    UNIX_EPOCH_ORDINAL,
)
from retab_sim.ids import encode_id

SDK, DOCS, MIXED = 0, 1, 2
SHAPE_MODES = {"sdk": SDK, "docs": DOCS, "mixed": MIXED}

_HMS = tuple(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400))
_FRAC6Z = ("Z", *(f".{f:03d}000Z" for f in range(1, 1000)))
_FRAC3 = ("", *(f".{f:03d}" for f in range(1, 1000)))
_DAYS: dict[int, str] = {}
_OFFSETS = ((0, "Z"), (2 * 3_600_000, "+02:00"), (0, "+00:00"), (-5 * 3_600_000, "-05:00"))
_SIMPLE_RUN = tuple(f'{{"status":"{s}"}}' for s in RUN_STATUSES)
_SIMPLE_EXPERIMENT = tuple(f'{{"status":"{s}"}}' for s in EXPERIMENT_STATUSES)
_TRIGGER_JSON = ('{"type":"manual"}', '{"type":"api"}', '{"type":"schedule"}')
_JSON_DATA = (
    "{}",
    '{"start-json-1":{"priority":"low","reference":"PO-4471"}}',
    '{"start-json-1":{"priority":"high","reference":"INV 2026/118","lines":[1,2,3]}}',
)
_fragments: dict[tuple[Any, ...], str] = {}


def _day(days: int) -> str:
    text = _DAYS.get(days)
    if text is None:
        text = _DAYS[days] = date.fromordinal(UNIX_EPOCH_ORDINAL + days).isoformat() + "T"
    return text


def iso_utc(ms: int) -> str:
    """`2026-05-01T14:30:00.123000Z`, or `...:00Z` on a whole second (pydantic's own form)."""
    sec, f = divmod(ms, 1000)
    days, s = divmod(sec, 86400)
    return (_DAYS.get(days) or _day(days)) + _HMS[s] + _FRAC6Z[f]


def iso_utc_column(ch: Chunk, name: str) -> list[str]:
    """`iso_utc` of each instant of a chunk's time column, written once per chunk; "" stands for NEVER."""
    texts = ch.texts.get(name)
    if texts is None:
        ms = getattr(ch.cols, name)
        valid = ms < NEVER
        seconds, fraction = np.divmod(np.where(valid, ms, 0), 1000)
        days, second = np.divmod(seconds, 86400)
        texts = ch.texts[name] = [
            (_DAYS.get(d) or _day(d)) + _HMS[s] + _FRAC6Z[f] if v else ""
            for d, s, f, v in zip(
                days.tolist(), second.tolist(), fraction.tolist(), valid.tolist(), strict=True
            )
        ]
    return texts


def iso_styled(ms: int, style: int) -> str:
    """The same instant as `iso_utc(ms)`, written in one of the vendor pages' forms."""
    offset, suffix = _OFFSETS[style]
    days, rem = divmod(ms + offset, DAY_MS)
    s, f = divmod(rem, 1000)
    if style == 2:
        return f"{_day(days)}{_HMS[s]}.{f:03d}000{suffix}"
    return _day(days) + _HMS[s] + _FRAC3[f] + suffix


def _fragment(key: tuple[Any, ...], build: Callable[[], Any]) -> str:
    text = _fragments.get(key)
    if text is None:
        text = _fragments[key] = orjson.dumps(build()).decode()
    return text


def _run_error(catalog: Catalog, wf_index: int, err: int, step_idx: int, variant: int) -> str:
    def build() -> dict[str, Any]:
        stage, category, message, code, on_step = RUN_ERRORS[err]
        step = catalog.workflows[wf_index].steps[step_idx]
        details = None
        if variant >= 2:  # 60% carry details, some with context
            details = {
                "message": message,
                "stack_trace": (
                    "Traceback (most recent call last):\n"
                    f'  File "/app/workflows/blocks/{step.kind}.py", line {101 + 37 * err}, in run\n'
                    f"    raise BlockError({message!r})\nBlockError: {message}"
                ),
                "block_id": step.block_id if on_step else None,
                "block_name": step.name if on_step else None,
                "error_code": code,
                "context": None if variant == 2 else {"attempt": variant - 2, "page": 3 * variant},
            }
        return {
            "status": "error",
            "message": message,
            "stage": stage,
            "category": category,
            "details": details,
            "failing_step_id": step.block_id if on_step else None,
        }

    return _fragment(("run-error", catalog.seed, wf_index, err, step_idx, variant), build)


def _cancelled(reason: int) -> str:
    return _fragment(("cancelled", reason), lambda: {"status": "cancelled", "reason": CANCEL_REASONS[reason]})


def _review(blocks: tuple[str, ...]) -> str:
    return _fragment(
        ("review", blocks), lambda: {"status": "awaiting_review", "waiting_for_block_ids": list(blocks)}
    )


_DOC_TAILS = tuple(
    f'","filename":{orjson.dumps(name).decode()},"mime_type":"{mime}"}}' for name, mime in FILES
)
_G1, _G2 = 0x9E3779B97F4A7C15, (2 * 0x9E3779B97F4A7C15) & ((1 << 64) - 1)


def _documents(heads: tuple[str, ...], n: int, files: list[int], file_id: int) -> str:
    """The `documents` object of a run's inputs: up to three files keyed by start block."""
    text = heads[0] + f"{file_id:016x}" + _DOC_TAILS[files[0]]
    if n > 1:
        text += "," + heads[1] + f"{file_id ^ _G1:016x}" + _DOC_TAILS[files[1]]
        if n > 2:
            text += "," + heads[2] + f"{file_id ^ _G2:016x}" + _DOC_TAILS[files[2]]
    return text


def render_runs(ch: Chunk, offsets: list[int], now: int, mode: int, catalog: Catalog) -> list[str]:
    """Workflow runs at those offsets of the chunk, as JSON text at `now`."""
    cols = ch.lists
    ids, status = ch.ids, ch.status_list(now)
    created, started, completed = cols["created"], cols["started"], cols["completed"]
    wfl, vgen, trigger, metadata = cols["wf"], cols["vgen"], cols["trigger"], cols["metadata"]
    inputs, n_docs, files, file_ids, json_data = (
        cols["inputs"],
        cols["n_docs"],
        cols["files"],
        cols["file_ids"],
        cols["json_data"],
    )
    docs_form, ts_style = cols["docs_form"], cols["ts_style"]
    workflows, version_id, names = catalog.workflows, catalog.version_id, catalog.trigger_json
    metadata_json, doc_heads = catalog.metadata_json, catalog.doc_heads
    iso_created, iso_started, iso_completed = (
        iso_utc_column(ch, name) for name in ("created", "started", "completed")
    )
    out = []
    for i in offsets:
        w = wfl[i]
        s = status[i]
        if s > CANCELLED or s == 0:
            life = _SIMPLE_RUN[s]
        elif s == ERROR:
            life = _run_error(catalog, w, cols["err"][i], cols["step"][i], cols["variant"][i])
        elif s == CANCELLED:
            life = _cancelled(cols["cancel"][i])
        if s == AWAITING_REVIEW:
            blocks = workflows[w].review_blocks
            life = _review(blocks[: 1 + (ch.cols.start + i) % len(blocks)])
        sa, ca = started[i], completed[i]
        if mode == DOCS or (mode == MIXED and docs_form[i]):
            style = ts_style[i]
            c_s = iso_styled(created[i], style)
            s_s = '"' + iso_styled(sa, style) + '"' if sa <= now else "null"
            e_s = '"' + iso_styled(ca, style) + '"' if ca <= now else "null"
            head = f'"workflow":{{"workflow_id":"{workflows[w].id}","version_id":"{version_id(w, vgen[i])}"}}'
            tail = "}"
        else:
            c_s = iso_created[i]
            s_s = '"' + iso_started[i] + '"' if sa <= now else "null"
            e_s = '"' + iso_completed[i] + '"' if ca <= now else "null"
            head = f'"workflow_id":"{workflows[w].id}","workflow_version_id":"{version_id(w, vgen[i])}"'
            tail = ',"metadata":' + metadata_json[w][metadata[i] + 1] + "}"
        mode_i = inputs[i]
        if mode_i == 0:
            nd = n_docs[i]
            documents = _documents(doc_heads[w], nd, files[i], file_ids[i]) if nd else ""
            inputs_s = (
                ',"inputs":{"documents":{' + documents + '},"json_data":' + _JSON_DATA[json_data[i]] + "}"
            )
        elif mode_i == 1:
            inputs_s = ',"inputs":null'
        else:
            inputs_s = ""
        out.append(
            f'{{"id":"{ids[i]}",{head},"trigger":{names[trigger[i]]},"lifecycle":{life},'
            f'"timing":{{"created_at":"{c_s}","started_at":{s_s},"completed_at":{e_s}}}{inputs_s}{tail}'
        )
    return out


def _experiment_error(err: int, with_details: bool, block_id: str, name: str, n: int) -> str:
    def build() -> dict[str, Any]:
        message, code = EXPERIMENT_ERRORS[err]
        details = None
        if with_details:
            details = {
                "message": message,
                "stack_trace": None,
                "block_id": block_id,
                "block_name": name,
                "error_code": code,
                "context": {"n_consensus": n},
            }
        return {"status": "error", "message": message, "details": details}

    return _fragment(("exp-error", err, with_details, block_id, name, n), build)


def render_experiment_runs(ch: Chunk, offsets: list[int], now: int, mode: int, catalog: Catalog) -> list[str]:
    """Experiment runs at those offsets of the chunk, as JSON text at `now`."""
    cols = ch.lists
    ids, status, day = ch.ids, ch.status_list(now), ch.cols.day
    created, started, completed = cols["created"], cols["started"], cols["completed"]
    exps, blocks, n_cons, vgen = cols["exp"], cols["block"], cols["n_consensus"], cols["vgen"]
    total, final_docs, error_count, score = (
        cols["total_docs"],
        cols["final_docs"],
        cols["error_count"],
        cols["score"],
    )
    experiments, fingerprint, version_id, draft_id = (
        catalog.experiments,
        catalog.fingerprint,
        catalog.version_id,
        catalog.draft_id,
    )
    iso_created, iso_started, iso_completed = (
        iso_utc_column(ch, name) for name in ("created", "started", "completed")
    )
    rescore_at, rescored = cols["rescore_at"], cols["rescore"]
    out = []
    for i in offsets:
        exp = experiments[exps[i]]
        block = exp.blocks[blocks[i]]
        wf = exp.workflow
        n, gen = n_cons[i], vgen[i]
        s = status[i]
        if s == ERROR:
            life = _experiment_error(cols["err"][i], cols["with_details"][i], block.block_id, block.name, n)
        elif s == CANCELLED:
            life = _cancelled(cols["cancel"][i])
        else:
            life = _SIMPLE_EXPERIMENT[s]
        draft = cols["draft_day"][i]
        version = draft_id(draft) if draft >= 0 else version_id(wf.index, gen)
        t = cols["trigger"][i]
        trigger_s = '{"type":null}' if t < 0 else _TRIGGER_JSON[t]
        sa, ca = started[i], completed[i]
        finished = ca <= now
        docs = mode == DOCS or (mode == MIXED and cols["docs_form"][i])
        if docs:
            style = cols["ts_style"][i]
            c_s = iso_styled(created[i], style)
            s_s = '"' + iso_styled(sa, style) + '"' if sa <= now else "null"
            e_s = '"' + iso_styled(ca, style) + '"' if finished else "null"
        else:
            c_s = iso_created[i]
            s_s = '"' + iso_started[i] + '"' if sa <= now else "null"
            e_s = '"' + iso_completed[i] + '"' if finished else "null"
        duration = str(ca - sa) if finished and sa < NEVER and not cols["duration_null"][i] else "null"
        timing = f'{{"created_at":"{c_s}","started_at":{s_s},"completed_at":{e_s},"duration_ms":{duration}}}'
        if finished:
            done, errors, sc = final_docs[i], error_count[i], score[i]
            if rescore_at[i] <= now:
                sc = rescored[i]
        elif sa <= now:
            done, errors, sc = total[i] * (now - sa) // max(1, ca - sa), 0, None
        else:
            done, errors, sc = 0, 0, None
        score_s = "null" if sc is None or sc != sc else repr(sc)
        exec_fp = fingerprint("exec", block.block_id, wf.index, gen, n)
        docs_fp = fingerprint("docs", exp.id, cols["revision"][i])
        if docs:
            out.append(
                f'{{"id":"{ids[i]}","workflow":{{"workflow_id":"{wf.id}","version_id":"{version}"}},'
                f'"trigger":{trigger_s},"lifecycle":{life},"timing":{timing},'
                f'"experiment_id":"{exp.id}","block_id":"{block.block_id}","block_kind":"{block.kind}",'
                f'"n_consensus":{n},"total_document_count":{total[i]},'
                f'"completed_document_count":{done},"error_count":{errors},"score":{score_s},'
                f'"definition_fingerprint":"{exec_fp}","documents_fingerprint":"{docs_fp}"}}'
            )
            continue
        parent = cols["parent"][i]
        parent_s = (
            '"' + encode_id("run_", day, parent, cols["parent_tag"][i]) + '"' if parent >= 0 else "null"
        )
        bv = (
            '"bv_' + fingerprint("bv", block.block_id, wf.index, gen)[:12] + '"'
            if cols["has_bv"][i]
            else "null"
        )
        mv = cols["mv_version"][i]
        mv_s = f'"{fingerprint("mv", exp.id, gen)}"' if mv else "null"
        out.append(
            f'{{"id":"{ids[i]}","workflow_id":"{wf.id}","workflow_version_id":"{version}",'
            f'"trigger":{trigger_s},"experiment_id":"{exp.id}","block_id":"{block.block_id}",'
            f'"block_type":"{block.kind}","n_consensus":{n},"lifecycle":{life},"timing":{timing},'
            f'"parent_run_id":{parent_s},"block_version_id":{bv},'
            f'"metrics_validity_fingerprint":{mv_s},"metrics_validity_fingerprint_version":{mv or "null"},'
            f'"block_execution_fingerprint":"{exec_fp}","documents_fingerprint":"{docs_fp}",'
            f'"score":{score_s},"total_document_count":{total[i]},"completed_document_count":{done},'
            f'"document_count":{total[i]},"error_count":{errors}}}'
        )
    return out


def render_chunk(ch: Chunk, offsets: list[int], now: int, mode: int, catalog: Catalog) -> list[str]:
    """Records at those offsets of the chunk, as JSON text at `now`."""
    if ch.cols.kind == RUNS:
        return render_runs(ch, offsets, now, mode, catalog)
    return render_experiment_runs(ch, offsets, now, mode, catalog)


def project(record: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """Only the requested keys (dotted paths reach into objects), as the `fields` parameter asks."""
    out: dict[str, Any] = {}
    for path in fields:
        src: Any = record
        dst = out
        parts = path.split(".")
        for i, part in enumerate(parts):
            if not isinstance(src, dict) or part not in src:
                break
            src = src[part]
            if i == len(parts) - 1:
                dst[part] = src
            elif not isinstance(dst.get(part), dict):
                dst[part] = {}
                dst = dst[part]
            else:
                dst = dst[part]
    return out
