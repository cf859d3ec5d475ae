"""Types for the values clients send, each checked once, here.

Every string, datetime, amount and number that reaches the database goes
through one of these, in the example domain and in resources `new-resource`
adds: a value the database cannot take is a 422 naming the field, never a
500 from the driver, and the OpenAPI document states exactly what is taken.
"""

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AllowInfNan,
    AwareDatetime,
    BeforeValidator,
    Field,
    Strict,
    WithJsonSchema,
)


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL (asyncpg raises on bind); SQLite would
    # cut the string there when read back by many tools. Refused on both.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _iso_text(pattern: str, what: str, example: str) -> Callable[[object], object]:
    """A before-validator: `value` must be ISO 8601 text. pydantic would also
    read a number (or a numeric string) as a Unix time: `start_from=0.5` is
    1970. The document says date-time (or date); so does this."""
    shape = re.compile(pattern)

    def check(value: object) -> object:
        if isinstance(value, str) and not shape.fullmatch(value):
            raise ValueError(f"must be an ISO 8601 {what}, like {example}")
        if isinstance(value, int | float):
            raise ValueError(f"must be an ISO 8601 {what} string, not a number")
        return value

    return check


# A date, then a time; the rest (seconds, fraction, offset) is pydantic's to check.
_iso_datetime = _iso_text(
    r"(?s)\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*", "date-time", "2030-01-31T09:30:00Z"
)
_iso_date = _iso_text(r"\d{4}-\d{2}-\d{2}", "date", "2030-01-31")


def _json_integer(value: object) -> object:
    if isinstance(value, bool | str):
        raise ValueError("must be an integer")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _in_utc(value: datetime) -> datetime:
    # Valid ISO values near year 1 or 9999 with a large offset leave Python's
    # datetime range once converted to UTC, which every write and filter does.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


def decimal_of(precision: int, scale: int) -> Any:  # an Annotated type, built at run time
    """A NUMERIC(precision, scale) amount, as a string ("12.50") or a JSON
    number, stored and answered with `scale` decimals ("1E+3" or "0.1" would
    otherwise be echoed as sent, then read back as "1000.00" and "0.10").
    The document states the pattern the server enforces."""
    whole = precision - scale
    # Concatenated, not an f-string: this file is also a Jinja template.
    pattern = r"\d{1," + str(whole) + r"}(\.\d{1," + str(scale) + r"})?"
    exact = re.compile(pattern)
    quantum = Decimal(1).scaleb(-scale)

    def as_text(value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("must be a decimal string or a number, not a boolean")
        if isinstance(value, str) and not exact.fullmatch(value):
            raise ValueError(
                f"must be a decimal with at most {whole} digits before the point and {scale} after"
            )
        return value

    return Annotated[
        Decimal,
        BeforeValidator(as_text),
        Field(ge=0, max_digits=precision, decimal_places=scale),
        AfterValidator(lambda value: value.quantize(quantum)),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "pattern": f"^{pattern}$"},
                    {
                        "type": "number",
                        "minimum": 0,
                        "maximum": float(10**whole - quantum),
                        "multipleOf": float(quantum),
                    },
                ]
            }
        ),
    ]


# A string the database can store: no NUL characters (the document says so
# with a pattern). Length limits stay on the field (Field(max_length=...)),
# where the column's size is known.
DbStr = Annotated[
    str, AfterValidator(_storable), Field(json_schema_extra={"pattern": "^[^\\u0000]*$"})
]

# A timezone-aware ISO 8601 datetime, normalized to UTC; one that cannot be is a 422.
UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_datetime), AfterValidator(_in_utc)]

# A date as JSON carries it: an ISO 8601 string (not a Unix time).
IsoDate = Annotated[date, BeforeValidator(_iso_date)]

# Ids are INTEGER columns (32-bit on PostgreSQL): larger ones cannot exist,
# and sending one to the database would fail there (a 500) instead of here.
MAX_ID = 2**31 - 1
MIN_INT = -(2**31)  # the other end of an INTEGER column

# Numbers as JSON types them. pydantic's lax mode would also take true or
# "5" for a number, which the document does not allow; JSON Schema's integer
# includes 5.0. Booleans are pydantic's StrictBool (true or false only).
# The bounds come before the validator: after it, pydantic would state them
# in the document as "ge"/"le" inside a union, which JSON Schema ignores.
JsonInt = Annotated[int, BeforeValidator(_json_integer)]
RowId = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_json_integer)]
Int32 = Annotated[int, Field(ge=MIN_INT, le=MAX_ID), BeforeValidator(_json_integer)]
FiniteNumber = Annotated[float, Strict(), AllowInfNan(False)]

# Amounts of the example (booking items: NUMERIC(10, 2)) and of `decimal`
# fields that new-resource writes (NUMERIC(12, 2)).
Money = decimal_of(10, 2)
Amount = decimal_of(12, 2)
