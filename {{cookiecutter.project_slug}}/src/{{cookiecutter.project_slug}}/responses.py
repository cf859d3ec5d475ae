"""JSON straight from database rows: encoded once, by orjson, not validated.

The database has already typed every value of a row, so running it through
the response model first (validate, then serialize) doubles the work of a
list page for nothing. Routes that answer rows declare their model with
`response_model=` (the OpenAPI document stays exact) and return this.
The output matches pydantic's: UTC as "Z", decimals as strings.
"""

from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import Response


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class RowsJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default, option=orjson.OPT_UTC_Z)
