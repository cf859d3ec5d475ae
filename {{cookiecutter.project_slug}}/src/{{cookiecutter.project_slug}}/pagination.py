"""Bounded list queries: page parameters, the page envelope, offset pages.

Every list endpoint returns

    {"items": [...], "pagination": {"page", "page_size", "total", "pages", "next_cursor"}}

and never more than MAX_PAGE_SIZE rows, so a response's memory is bounded by
the page size, not by the table size.
"""

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy import Select, func
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


class PageInfo(BaseModel):
    page: int | None
    page_size: int
    total: int | None
    pages: int | None
    next_cursor: str | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    pagination: PageInfo


class PageParams(BaseModel):
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def page_params(
    request: Request,
    page: Annotated[int, Query(ge=1, description="1-based page number")] = 1,
    page_size: Annotated[
        int | None, Query(ge=1, description="Rows per page, up to MAX_PAGE_SIZE")
    ] = None,
) -> PageParams:
    # The upper bound comes from the running settings (MAX_PAGE_SIZE), so it
    # is checked here rather than frozen into the route at import time.
    settings = request.app.state.settings
    size = settings.default_page_size if page_size is None else page_size
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
    return PageParams(page=page, page_size=size)


PageParamsDep = Annotated[PageParams, Depends(page_params)]


async def offset_page(session: AsyncSession, stmt: Select, params: PageParams) -> dict:
    """Run an ordered select of summary columns as one page plus its total."""
    rows = await session.execute(stmt.offset(params.offset).limit(params.page_size))
    items = [dict(row) for row in rows.mappings()]
    count_stmt = stmt.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)
    total = await session.scalar(count_stmt) or 0
    return {
        "items": items,
        "pagination": {
            "page": params.page,
            "page_size": params.page_size,
            "total": total,
            "pages": (total + params.page_size - 1) // params.page_size,
            "next_cursor": None,
        },
    }
