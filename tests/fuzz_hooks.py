"""Schemathesis hooks for tests/test_fuzz.py: the two rules of the API that
JSON Schema cannot state, applied to generated requests so that every other
schema-valid request must be accepted.

- A cursor is an opaque, signed token: no generated string is one (a 400,
  tested on its own in the generated project). Generated cursors are dropped.
- A booking ends after it starts, a rule across two fields: a generated end
  that is not after its start is moved an hour after it, and a partial
  update sends both or neither (the server compares them with the stored row).
- A date-time must stay within the calendar once converted to UTC.
"""

from datetime import UTC, datetime, timedelta

import schemathesis

BOUNDS = ("start_datetime", "end_datetime")
FILTERS = ("start_from", "start_before")
# What a schema-valid date-time that leaves the calendar in UTC (year 1 with
# a positive offset, 9999 with a negative one: a 422 by design, tested in
# the generated project) is replaced with.
IN_RANGE = datetime(2030, 1, 1, 9, tzinfo=UTC)


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
            parsed.astimezone(UTC) + timedelta(hours=1)
        except OverflowError:
            values[name] = IN_RANGE.isoformat()


def _end_after_start(body: dict) -> None:
    bounds = {name: _aware(body[name]) for name in BOUNDS if name in body}
    if None in bounds.values():
        return  # a bound that is not a datetime: negative data
    if len(bounds) == 1:
        del body[next(iter(bounds))]
    elif bounds and bounds["end_datetime"] <= bounds["start_datetime"]:
        body["end_datetime"] = (bounds["start_datetime"] + timedelta(hours=1)).isoformat()
