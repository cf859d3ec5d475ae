"""Schemathesis hooks for tests/test_fuzz.py: the two rules of the API that
JSON Schema cannot state, applied to generated requests so that every other
schema-valid request must be accepted.

- A cursor is an opaque, signed token: no generated string is one (a 400,
  tested on its own in the generated project). Generated cursors are dropped.
- A booking ends after it starts, a rule across two fields: a generated end
  that is not after its start is moved an hour after it, and a partial
  update sends both or neither (the server compares them with the stored row).
- A date-time must be within the stated range once converted to UTC; a
  valid one is sometimes replaced with an edge of that range.
- An email's rules beyond its pattern (no character of Unicode's categories
  C and Z, at most 320 characters once NFKC and case-folded): a generated
  one that breaks them is replaced; a valid one is sometimes replaced with
  a look-alike of another (decomposed, upper-case, fullwidth), which must
  be taken as the same account.
"""

import random
import re
import unicodedata
from datetime import UTC, datetime, timedelta

import schemathesis

BOUNDS = ("start_datetime", "end_datetime")
FILTERS = ("start_from", "start_before")
# What a schema-valid date-time that leaves the calendar in UTC (year 1 with
# a positive offset, 9999 with a negative one: a 422 by design, tested in
# the generated project) is replaced with.
IN_RANGE = datetime(2030, 1, 1, 9, tzinfo=UTC)
# The range the service takes (schema_types.EARLIEST and LATEST).
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
EDGES = (EARLIEST, LATEST - timedelta(hours=1), LATEST)
# Hypothesis seeds `random` per example: a run's choices follow its seed.
EDGE_CHANCE = 0.1
# The service's pattern (schema_types.EMAIL_PATTERN) and normal form.
_CHAR = (
    r"[^@\u0000-\u0020\u007f-\u00a0\u00ad\u061c\u180e\u1680\u2000-\u200f"
    r"\u2028-\u202f\u205f-\u206f\u3000\ufeff\ufff9-\ufffb]"
)
EMAIL = re.compile(f"{_CHAR}+@{_CHAR}+\\.{_CHAR}+")
REFUSED = ("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp")
LOOK_ALIKES = (
    "\u00e9t\u00e9@example.org",
    "e\u0301te\u0301@example.org",
    "\u00c9T\u00c9@EXAMPLE.ORG",
    "\uff45\u0301t\u00e9@example.org",
    "\u0130" * 150 + "@example.org",
)


@schemathesis.hook
def before_call(_ctx, case, _kwargs):
    # Before sending, in every phase (the coverage phase does not go through
    # the map_* hooks). Only schema-valid values are changed, so that a
    # negative case stays exactly as invalid as it was generated.
    if isinstance(case.query, dict):
        if _valid_cursor(case.query.get("cursor")):
            del case.query["cursor"]
        _keep_in_range(case.query, FILTERS)
    if isinstance(case.body, dict):
        _keep_in_range(case.body, BOUNDS)
        _end_after_start(case.body)
        _valid_email(case.body, "email", "")
        _valid_email(case.body, "username", " ")


def _valid_cursor(value) -> bool:
    return isinstance(value, str) and len(value) <= 2048


def _aware(value) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else None


def _keep_in_range(values: dict, names: tuple[str, ...]) -> None:
    for name in names:
        parsed = _aware(values.get(name))
        if parsed is None:
            continue
        try:
            in_range = EARLIEST <= parsed.astimezone(UTC) <= LATEST
        except OverflowError:
            in_range = False
        if not in_range:
            values[name] = IN_RANGE.isoformat()
        elif random.random() < EDGE_CHANCE:
            values[name] = random.choice(EDGES).isoformat()


def _end_after_start(body: dict) -> None:
    bounds = {name: _aware(body[name]) for name in BOUNDS if name in body}
    if None in bounds.values():
        return  # a bound that is not a datetime: negative data
    if len(bounds) == 1:
        del body[next(iter(bounds))]
    elif bounds and bounds["end_datetime"] <= bounds["start_datetime"]:
        start = min(bounds["start_datetime"].astimezone(UTC), LATEST - timedelta(hours=1))
        body["start_datetime"] = start.isoformat()
        body["end_datetime"] = (start + timedelta(hours=1)).isoformat()


def _normal(value: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())


def _taken(value: str) -> bool:
    """Whether the service takes a schema-valid email."""
    if any(unicodedata.category(char) in REFUSED for char in value):
        return False
    folded = _normal(value)
    refused = any(unicodedata.category(char) in REFUSED for char in folded)
    return len(folded) <= 320 and not refused and EMAIL.fullmatch(folded) is not None


def _valid_email(body: dict, name: str, spaces: str) -> None:
    value = body.get(name)
    if not isinstance(value, str) or len(value) > 320:
        return
    bare = value.strip(spaces) if spaces else value
    if EMAIL.fullmatch(bare) is None:
        return  # not schema-valid: negative data
    if not _taken(bare) or random.random() < EDGE_CHANCE:
        body[name] = random.choice(LOOK_ALIKES)
