"""Run ids that sort like their records and decode back to a position (day, index).

An id is `<prefix><day:4><index:6><tag:4>` in lowercase base 36: the day as days since
2000-01-01, the index within that day, and a tag drawn from the record's seeded hash, so
ids look random, differ between seeds, and a made-up id does not decode.
"""

from __future__ import annotations

from datetime import date

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
EPOCH_ORDINAL = date(2000, 1, 1).toordinal()
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_DAY_WIDTH, _INDEX_WIDTH, _TAG_WIDTH = 4, 6, 4
TAG_SPACE = 36**_TAG_WIDTH


_B36_3 = tuple(a + b + c for a in ALPHABET for b in ALPHABET for c in ALPHABET)
_heads: dict[tuple[str, int], str] = {}


def _b36(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, rem = divmod(value, 36)
        chars.append(ALPHABET[rem])
    return "".join(reversed(chars))


def encode_id(prefix: str, day_ordinal: int, index: int, tag: int) -> str:
    """The id of record `index` of day `day_ordinal`; `tag` is taken modulo the tag space."""
    head = _heads.get((prefix, day_ordinal))
    if head is None:
        head = _heads[(prefix, day_ordinal)] = prefix + _b36(day_ordinal - EPOCH_ORDINAL, _DAY_WIDTH)
    tag %= TAG_SPACE
    return (
        head + _B36_3[index // 46656] + _B36_3[index % 46656] + ALPHABET[tag // 46656] + _B36_3[tag % 46656]
    )


def decode_id(prefix: str, run_id: str) -> tuple[int, int, int] | None:
    """(day ordinal, index, tag) of a well-formed id, else None."""
    body = run_id[len(prefix) :]
    if not run_id.startswith(prefix) or len(body) != _DAY_WIDTH + _INDEX_WIDTH + _TAG_WIDTH:
        return None
    try:
        digits = [_VALUE[c] for c in body]
    except KeyError:
        return None
    parts = []
    for start, width in (
        (0, _DAY_WIDTH),
        (_DAY_WIDTH, _INDEX_WIDTH),
        (_DAY_WIDTH + _INDEX_WIDTH, _TAG_WIDTH),
    ):
        value = 0
        for d in digits[start : start + width]:
            value = value * 36 + d
        parts.append(value)
    return parts[0] + EPOCH_ORDINAL, parts[1], parts[2]
