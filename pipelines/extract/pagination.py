"""Cursor pagination of a Retab listing: parse one page, and walk the pages with a loop guard."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from pipelines.errors import LoopDetected, TooManyPages, TransientError


@dataclass
class Page:
    """One page of a listing."""

    records: list[dict[str, Any]]  # the `data` array, parsed
    after: str | None  # list_metadata.after: the cursor of the next page, if the server gave one
    nbytes: int  # size of the response body


def next_cursor(body: Mapping[str, Any]) -> str | None:
    """The `after` cursor of a listing body, or None at the end."""
    after = body["list_metadata"].get("after")
    return after or None


def parse_page(body: bytes) -> Page:
    """Parse a 200 listing body; a body that is not a listing is a TransientError("bad_body")."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise TransientError("bad_body", f"the listing body is not valid JSON ({error})") from None
    if not isinstance(parsed, dict):
        raise TransientError("bad_body", "the listing body is not a JSON object")
    data = parsed.get("data")
    meta = parsed.get("list_metadata")
    if not isinstance(data, list) or not isinstance(meta, dict):
        raise TransientError("bad_body", "the listing body lacks `data` or `list_metadata`")
    if not all(isinstance(record, dict) for record in data):
        raise TransientError("bad_body", "the listing's `data` holds something other than objects")
    after = next_cursor(parsed)
    if after is not None and not isinstance(after, str):
        raise TransientError("bad_body", "the listing's `list_metadata.after` is not a string")
    return Page(records=data, after=after, nbytes=len(body))


def iter_pages(
    fetch: Callable[[dict[str, str]], Page],
    params: Mapping[str, str],
    *,
    label: str,
    max_pages: int,
    on_duplicates: Callable[[int], None] | None = None,
) -> Iterator[Page]:
    """Yield the non-empty pages of a listing, following `after` until it is null or a page is empty.

    Raises LoopDetected when a cursor comes back or a page holds only ids already seen in this
    walk, and TooManyPages past `max_pages`. Single ids seen again (records that moved between
    pages) are passed on and reported to `on_duplicates`; the flattener deduplicates.
    """
    query = dict(params)
    cursors: dict[str, int] = {}  # cursor -> number of the page that returned it
    # Hashes of the ids seen in this walk, not the ids: the strings would outlive their records
    # (~70 B each, 70 MB on a day of 1M runs) where an int takes 36 B. Two of 1M distinct ids share
    # a 64-bit hash with odds of ~3e-8; if they ever did, one record would only be counted as repeated.
    seen: set[int] = set()
    number = 0
    while True:
        number += 1
        if number > max_pages:
            raise TooManyPages(
                f"{label}: more than {max_pages} pages; raise max_pages_per_window if the day really "
                "is that large, else the server's cursors never end"
            )
        page = fetch(query)
        if not page.records:
            return
        ids = [record_id for record in page.records if isinstance(record_id := record.get("id"), str)]
        repeated = 0
        for key in map(hash, ids):
            if key in seen:
                repeated += 1
            else:
                seen.add(key)
        if ids and repeated == len(ids):
            raise LoopDetected(
                f"{label}: page {number} (after={query.get('after')!r}) holds only ids already seen "
                "in this walk; the server's pagination loops"
            )
        if repeated and on_duplicates is not None:
            on_duplicates(repeated)
        yield page
        if page.after is None:
            return
        if page.after in cursors:
            raise LoopDetected(
                f"{label}: page {number} returned the cursor {page.after!r} already returned by page "
                f"{cursors[page.after]}; the server's pagination loops"
            )
        cursors[page.after] = number
        query["after"] = page.after
