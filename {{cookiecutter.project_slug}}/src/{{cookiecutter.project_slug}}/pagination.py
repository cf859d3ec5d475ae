"""Bounded list queries: page parameters, signed cursors, offset and keyset pages.

Every list endpoint answers at most MAX_PAGE_SIZE rows, as

    {"items": [...], "pagination": {"page", "page_size", "total", "pages", "next_cursor"}}

`?page=N` is an offset page with a total (at most COUNT_CACHE_SECONDS old);
`?cursor=...` continues after the previous page's last row, `total`/`pages`
null. `with_total=true` counts now, `with_total=false` skips the COUNT. Every
page carries `next_cursor` (null on the last). Cursors are HMAC-signed with
CURSOR_SECRET and bound to their query: an altered or foreign one is a 400.

Why it is built this way: docs/design-notes.md, "pagination.py".
"""

import base64
import functools
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar, cast

import orjson
from fastapi import Depends, Query, Request
from fastapi import params as fastapi_params
from fastapi.dependencies.utils import get_flat_params
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy import Column, ColumnElement, Integer, UnaryExpression, bindparam, tuple_

from .errors import ServiceError
from .reads import Reader
from .resource_helpers import table_column
from .statements import NO_VALUES, AnySelect, Values

# Offset pages deeper than this are refused (keyset cursors go anywhere):
# it also keeps OFFSET within what the databases accept.
MAX_PAGE = 1_000_000

T = TypeVar("T")
_PAGING_PARAMS = {"page", "page_size", "cursor", "with_total"}


class PageInfo(BaseModel):
    page: int | None
    page_size: int
    total: int | None
    pages: int | None
    next_cursor: str | None


class Page(BaseModel, Generic[T]):
    items: list[T]
    pagination: PageInfo


@dataclass(frozen=True, init=False)
class SortKey:
    """An allowed ordering. The last column must be unique (the primary key):
    it breaks ties so that pages never overlap or skip rows."""

    columns: tuple[Column[Any], ...]
    descending: bool

    def __init__(self, columns: tuple[Any, ...], descending: bool = True) -> None:
        # Model attributes (typed as their values) become table columns (resource_helpers.table_column).
        object.__setattr__(self, "columns", tuple(map(table_column, columns)))
        object.__setattr__(self, "descending", descending)

    @functools.cached_property
    def _ordering(self) -> tuple[UnaryExpression[Any], ...]:
        # Built once: new clause objects on every request cost time twice,
        # building them and deriving the statement's cache key from them.
        return tuple(column.desc() if self.descending else column.asc() for column in self.columns)

    def order_by(self) -> list[UnaryExpression[Any]]:
        return list(self._ordering)

    @functools.cached_property
    def after(self) -> ColumnElement[bool]:
        """Rows strictly after the values bound as `after_0`, `after_1`, ... (a
        row-value comparison, which PostgreSQL and SQLite both answer with an
        index range scan)."""
        # Each value is bound with its column's type, so it is stored-format
        # compatible (SQLite compares datetimes as text).
        bound = tuple_(*(bindparam(name, type_=c.type) for name, c in self._after_names))
        key = tuple_(*self.columns)
        return key < bound if self.descending else key > bound

    @functools.cached_property
    def _after_names(self) -> tuple[tuple[str, Column[Any]], ...]:
        return tuple((f"after_{i}", column) for i, column in enumerate(self.columns))

    def after_values(self, values: list[Any]) -> dict[str, Any]:
        return {name: value for (name, _), value in zip(self._after_names, values, strict=True)}


@dataclass(frozen=True)
class PageParams:
    page: int
    page_size: int
    cursor: str | None
    with_total: bool | None
    scope: str
    secret: bytes

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


# Every dependency is async: FastAPI runs a synchronous one in a worker
# thread, and under load that hop costs more than the work (tests/test_routing.py).
async def page_params(
    request: Request,
    page: Annotated[
        int,
        Query(ge=1, le=MAX_PAGE, description="1-based page number (offset mode; deeper: cursors)"),
    ] = 1,
    page_size: Annotated[
        int | None, Query(ge=1, description="Rows per page, up to MAX_PAGE_SIZE")
    ] = None,
    cursor: Annotated[
        str | None,
        Query(max_length=2048, description="next_cursor of the previous page (keyset mode)"),
    ] = None,
    with_total: Annotated[
        bool | None,
        Query(
            description="true: count the matching rows now; false: no total. "
            "Default: a total at most COUNT_CACHE_SECONDS old in offset mode, none in keyset mode"
        ),
    ] = None,
) -> PageParams:
    settings = request.app.state.settings
    size = settings.default_page_size if page_size is None else page_size
    # The upper bound is the running MAX_PAGE_SIZE, checked here rather than
    # frozen into the route when the module is imported.
    if size > settings.max_page_size:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("query", "page_size"),
                    "msg": f"Input should be less than or equal to {settings.max_page_size}",
                    "input": page_size,
                }
            ]
        )
    return PageParams(
        page=page,
        page_size=size,
        cursor=cursor or None,
        with_total=with_total,
        scope=_scope(request),
        secret=settings.cursor_secret.get_secret_value().encode(),
    )


PageParamsDep = Annotated[PageParams, Depends(page_params)]


def _scope(request: Request) -> str:
    """The query a cursor belongs to: the path and every non-paging parameter.

    The caller is not part of it: lists of one's own rows filter by owner in
    the query itself, so a cursor only ever positions within what the caller
    may see, and shared lists (venues) can share cached pages.
    """
    declared = _filter_names(request.scope.get("route"))
    filters = sorted(
        (key, value)
        for key, value in request.query_params.multi_items()
        if key not in _PAGING_PARAMS and (declared is None or key in declared)
    )
    # The path as received: Request.url would build and parse the whole URL again.
    return orjson.dumps([request.scope["path"], filters]).decode()


_NAMES_ATTRIBUTE = "lean_query_names"


def _filter_names(route: Any) -> frozenset[str] | None:
    """The query parameters `route` reads (None: unknown, then all count).

    A parameter the route ignores (a cache buster, a tracking tag) cannot
    change the rows, so it does not belong to the cursor's query either.
    Kept on the route (routes compare by value, so they cannot be dict keys).
    """
    if route is None or not hasattr(route, "dependant"):
        return None
    names = getattr(route, _NAMES_ATTRIBUTE, None)
    if names is None:
        fields = get_flat_params(route.dependant)  # path, query, header, cookie
        names = frozenset(f.alias for f in fields if isinstance(f.field_info, fastapi_params.Query))
        setattr(route, _NAMES_ATTRIBUTE, names)
    return names


# ---------------------------------------------------------------- cursors


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, scope: str, payload: bytes) -> bytes:
    return hmac.digest(secret, scope.encode() + b"\0" + payload, "sha256")[:16]


def encode_cursor(params: PageParams, values: list[Any]) -> str:
    # orjson writes an aware datetime as isoformat() does; _typed reads it back.
    payload = orjson.dumps(values)
    return f"{_b64(payload)}.{_b64(_sign(params.secret, params.scope, payload))}"


def _invalid_cursor() -> ServiceError:
    return ServiceError(
        400,
        "Invalid cursor: it was altered, truncated, or belongs to another query. "
        "Start again from the first page.",
        code="invalid_cursor",
    )


def decode_cursor(params: PageParams, key: SortKey) -> list[Any]:
    try:
        # paginate calls this only with a cursor.
        encoded_payload, encoded_mac = cast(str, params.cursor).split(".")
        payload, mac = _unb64(encoded_payload), _unb64(encoded_mac)
    except ValueError:  # wrong shape or not base64 (binascii.Error is a ValueError)
        raise _invalid_cursor() from None
    if not hmac.compare_digest(mac, _sign(params.secret, params.scope, payload)):
        raise _invalid_cursor()
    # Signed by this service for this query: the payload is ours, but is still
    # checked against the sort key rather than trusted blindly.
    try:
        values = json.loads(payload)
        if not isinstance(values, list) or len(values) != len(key.columns):
            raise ValueError
        return [_typed(column, value) for column, value in zip(key.columns, values, strict=True)]
    except (ValueError, TypeError):
        raise _invalid_cursor() from None


def _typed(column: ColumnElement[Any], value: Any) -> Any:
    python_type = column.type.python_type
    if python_type is datetime:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive datetime in cursor")
        return parsed
    if not isinstance(value, python_type) or isinstance(value, bool):
        raise TypeError("cursor value of the wrong type")
    return value


# ---------------------------------------------------------------- pages


# A page's size and place are bound parameters too, so each statement has
# two page shapes (offset, keyset), built once.
_LIMIT = bindparam("page_limit", type_=Integer)
_OFFSET = bindparam("page_offset", type_=Integer)


@functools.lru_cache(maxsize=256)
def page_select(stmt: AnySelect, key: SortKey, keyset: bool) -> AnySelect:
    """The SQL of one page of `stmt`, ordered by `key`: binds `page_limit`,
    and `page_offset` or (`keyset`) the cursor's `after_*` values."""
    ordered = stmt.order_by(*key.order_by())
    if keyset:
        return ordered.where(key.after).limit(_LIMIT)
    return ordered.offset(_OFFSET).limit(_LIMIT)


async def paginate(
    reader: Reader, stmt: AnySelect, params: PageParams, key: SortKey, values: Values = NO_VALUES
) -> dict[str, Any]:
    """One page of `stmt` (a select of summary columns, filters applied, no
    ORDER BY; built once, see reads.py) with `values` bound, in offset or
    keyset mode, with the next page's cursor; ready for RowsJSONResponse. The
    total comes from the count cache unless the client asked for it
    (`with_total=true`)."""
    after = decode_cursor(params, key) if params.cursor is not None else None
    page = params.page if after is None else None
    # One row more than asked tells whether another page exists.
    bound = {**values, "page_limit": params.page_size + 1}
    if after is None:
        bound["page_offset"] = params.offset
    else:
        bound.update(key.after_values(after))
    rows = await reader.rows(page_select(stmt, key, after is not None), bound)
    items, more = rows[: params.page_size], len(rows) > params.page_size
    total = None
    if params.with_total or (params.with_total is None and after is None):
        total = await reader.count(stmt, values, exact=params.with_total is True)
    last = items[-1] if items else None
    return {
        "items": items,
        "pagination": {
            "page": page,
            "page_size": params.page_size,
            "total": total,
            "pages": None if total is None else (total + params.page_size - 1) // params.page_size,
            "next_cursor": encode_cursor(params, [last[c.key] for c in key.columns])
            if more and last
            else None,
        },
    }
