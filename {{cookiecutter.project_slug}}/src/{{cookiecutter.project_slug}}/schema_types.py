"""Types for the values clients send, each checked once, here.

Every string, datetime, amount and number that reaches the database goes
through one of these, in the example domain and in resources `new-resource`
adds: a value the database cannot take is a 422 naming the field, never a
500 from the driver, and the OpenAPI document states exactly what is taken.
"""

import re
import unicodedata
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


# The instants and days both databases store and give back unchanged, to the
# microsecond. asyncpg sends Python's first and last datetime (and date) as
# PostgreSQL's -infinity and infinity, which come back naive: a booking there
# could no longer be compared, paged past or exported. A day off each end
# excludes them, and keeps any UTC offset or a day's arithmetic on a value
# inside Python's calendar.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
FIRST_DAY, LAST_DAY = EARLIEST.date(), LATEST.date()
DATETIME_RANGE = "from 0001-01-02T00:00:00Z to 9999-12-30T23:59:59.999999Z, in UTC"
DATE_RANGE = "from 0001-01-02 to 9999-12-30"


def _in_utc(value: datetime) -> datetime:
    # Valid ISO values near year 1 or 9999 with a large offset leave Python's
    # datetime range once converted to UTC, which every write and filter does.
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise ValueError(f"must be {DATETIME_RANGE}")
    return utc


def _in_date_range(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"must be {DATE_RANGE}")
    return value


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

# A timezone-aware ISO 8601 datetime, normalized to UTC, between EARLIEST and
# LATEST (the document says so); one outside is a 422 that states the range.
UtcDatetime = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_datetime),
    AfterValidator(_in_utc),
    Field(description=f"An ISO 8601 date-time with an offset, {DATETIME_RANGE}."),
]

# A date as JSON carries it: an ISO 8601 string (not a Unix time), between
# FIRST_DAY and LAST_DAY, for the reason EARLIEST and LATEST are.
IsoDate = Annotated[
    date,
    BeforeValidator(_iso_date),
    AfterValidator(_in_date_range),
    Field(description=f"An ISO 8601 date, {DATE_RANGE}."),
]

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

# An email is an account's identity: it is stored, compared and rate-limited
# in one normal form, so that what reads alike is one account. NFKC, not NFC:
# NFC leaves compatibility look-alikes apart (fullwidth letters, the ligature
# U+FB01 for "fi", superscript digits). Case folding, not lower(): Unicode's
# caseless match (sharp s is "ss", final and medial sigma are one). NFKC again after
# folding, as Unicode's NFKC_Casefold does: folding can leave text that is
# not NFKC. Invisible, space and control characters are refused rather than
# dropped: an address that differs from what its owner reads is a mistake
# or an impersonation.
EMAIL_MAX = 320  # the users.email column, in characters, after normalisation
# name@domain.tld of visible characters, written with ranges Python and JSON
# Schema read alike (their \s differ). The document states it; the server
# also refuses the rest of Unicode's categories C and Z (EMAIL_REFUSED),
# which a pattern cannot name, and checks the normalised form again.
_EMAIL_CHAR = (
    r"[^@\u0000-\u0020\u007f-\u00a0\u00ad\u061c\u180e\u1680\u2000-\u200f"
    r"\u2028-\u202f\u205f-\u206f\u3000\ufeff\ufff9-\ufffb]"
)
EMAIL_PATTERN = f"^{_EMAIL_CHAR}+@{_EMAIL_CHAR}+\\.{_EMAIL_CHAR}+$"
_EMAIL = re.compile(EMAIL_PATTERN)
# Control, format (zero-width, bidirectional), surrogate, private-use and
# unassigned characters, and every space and separator.
EMAIL_REFUSED = ("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp")


def _refused_character(value: str) -> str | None:
    for char in value:
        if unicodedata.category(char) in EMAIL_REFUSED:
            name = unicodedata.name(char, "unnamed")
            return f"U+{ord(char):04X} {name}"
    return None


def email_identity(value: str) -> str:
    """The account's identity for `value`, or a ValueError naming the rule
    it breaks (each is checked on what is stored, not only on what is sent)."""
    found = _refused_character(value)
    if found is not None:
        raise ValueError(f"must not contain invisible, space or control characters ({found})")
    if not _EMAIL.fullmatch(value):
        raise ValueError("must look like name@example.org")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    if len(folded) > EMAIL_MAX:
        raise ValueError(
            f"must be at most {EMAIL_MAX} characters once normalised "
            f"(Unicode NFKC, case-folded): {len(folded)}"
        )
    found = _refused_character(folded)
    if found is not None or not _EMAIL.fullmatch(folded):
        raise ValueError("must look like name@example.org once normalised (NFKC, case-folded)")
    return folded


def _strip_spaces(value: object) -> object:
    # Login forgives the spaces a pasted address brings along; nothing else.
    # The length is checked as sent, as the document states it.
    if isinstance(value, str):
        if len(value) > EMAIL_MAX:
            raise ValueError(f"must be at most {EMAIL_MAX} characters")
        return value.strip(" ")
    return value


_EMAIL_SCHEMA = {"type": "string", "minLength": 3, "maxLength": EMAIL_MAX}
_EMAIL_NOTE = (
    "An email, stored and matched in Unicode NFKC, case-folded, at most "
    f"{EMAIL_MAX} characters in that form; no invisible, space or control characters."
)

# An email as sign-up takes it, answered in its normal form.
Email = Annotated[
    str,
    Field(max_length=EMAIL_MAX),
    AfterValidator(email_identity),
    WithJsonSchema({**_EMAIL_SCHEMA, "pattern": EMAIL_PATTERN, "description": _EMAIL_NOTE}),
]
# An email as login takes it: the same, with plain spaces around it allowed.
LoginEmail = Annotated[
    str,
    BeforeValidator(_strip_spaces),
    AfterValidator(email_identity),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": EMAIL_MAX,
            "pattern": f"^ *{EMAIL_PATTERN[1:-1]} *$",
            "description": _EMAIL_NOTE,
        }
    ),
]
