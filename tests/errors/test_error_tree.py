"""One error tree: every class under one root, each saying what a retry can do and what to do."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import dagster as dg
import pytest

from assets.materializations import PartitionRecorder
from pipelines import errors
from pipelines.errors import (
    EXIT_FAILED,
    EXIT_FIX_FIRST,
    AuthError,
    HtmlPage,
    MissingApiKey,
    RetriesExhausted,
    TransientError,
    Unreachable,
    WarehouseError,
    WarehouseLocked,
    WarehouseUnreadable,
    classify,
)

ROOT = Path(__file__).resolve().parents[2]
CLASSES = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, BaseException)]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_error_descends_from_the_one_root_and_says_what_to_do(cls: type[BaseException]) -> None:
    assert issubclass(cls, WarehouseError)
    assert isinstance(cls.advice, str) and cls.advice.strip()  # type: ignore[attr-defined]
    assert "retryable" in {k for c in cls.__mro__ for k in vars(c)}
    assert cls.__doc__ and cls.__name__ in errors.__doc__  # drawn in the module's tree


def test_no_exception_class_is_defined_outside_errors_py() -> None:
    strays = []
    for path in sorted((ROOT / "pipelines").rglob("*.py")):
        if path.name == "errors.py" and path.parent.name == "pipelines":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b) for b in node.bases}
                if any(
                    b.endswith(("Exception", "Error")) or b in {n.__name__ for n in CLASSES} for b in bases
                ):
                    strays.append(f"{path.relative_to(ROOT)}: {node.name}")
    assert strays == []


@pytest.mark.parametrize(
    ("error", "retryable", "stops", "exit_code"),
    [
        (MissingApiKey(), False, True, EXIT_FIX_FIRST),
        (AuthError(401, "/v1/workflows/runs"), False, True, EXIT_FIX_FIRST),
        (WarehouseLocked("held"), True, False, EXIT_FAILED),
        (WarehouseUnreadable("bad"), False, False, EXIT_FIX_FIRST),
        (RetriesExhausted("gave up", attempts=8, last=TransientError("503")), True, False, EXIT_FAILED),
        (RetriesExhausted("gave up", attempts=8, last=Unreachable("refused")), True, True, EXIT_FAILED),
        (RetriesExhausted("gave up", attempts=8, last=HtmlPage("login page")), True, True, EXIT_FAILED),
        (RuntimeError("not ours"), True, False, EXIT_FAILED),
    ],
    ids=["no-key", "401", "locked", "unreadable", "503s", "unreachable", "html", "foreign"],
)
def test_one_classification_answers_every_question(
    error: BaseException, retryable: bool, stops: bool, exit_code: int
) -> None:
    answer = classify(error)
    assert (answer.retryable, answer.stops_endpoint, answer.exit_code) == (retryable, stops, exit_code)


class _Context:
    """Just enough of an asset context for PartitionRecorder.failures()."""

    def log_event(self, event: object) -> None:
        raise AssertionError("nothing was committed")


@pytest.mark.parametrize(
    ("error", "allow_retries"),
    [
        (MissingApiKey(), False),
        (AuthError(401, "/v1/workflows/runs"), False),
        (WarehouseLocked("held"), True),
    ],
    ids=["no-key", "401", "locked"],
)
def test_dagster_failures_allow_retries_as_the_tree_says(error: WarehouseError, allow_retries: bool) -> None:
    recorder = PartitionRecorder.__new__(PartitionRecorder)
    recorder._committed = {}  # type: ignore[attr-defined]
    recorder._context = _Context()  # type: ignore[attr-defined]
    with pytest.raises(dg.Failure) as raised, recorder.failures():
        raise error
    assert raised.value.allow_retries is allow_retries
    assert str(error) in (raised.value.description or "")
