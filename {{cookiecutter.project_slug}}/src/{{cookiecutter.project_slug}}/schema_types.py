"""Types for the values clients send, each checked once, here.

Every string and datetime that reaches the database goes through one of
these, in the example domain and in resources `new-resource` adds, so a value
the database cannot take is a 422 naming the field, never a 500 from the driver.
"""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL (asyncpg raises on bind); SQLite would
    # cut the string there when read back by many tools. Refused on both.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _in_utc(value: datetime) -> datetime:
    # Valid ISO values near year 1 or 9999 with a large offset leave Python's
    # datetime range once converted to UTC, which every write and filter does.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


# A string the database can store: no NUL characters. Length limits stay on
# the field (Field(max_length=...)), where the column's size is known.
DbStr = Annotated[str, AfterValidator(_storable)]

# A timezone-aware datetime, normalized to UTC; one that cannot be is a 422.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
