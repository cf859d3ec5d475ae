"""The id of the request being served, for error bodies and log lines.

Kept apart from logs.py so that any module (errors.py) can read it without
importing the logging setup.
"""

import re
import uuid
from contextvars import ContextVar

from starlette.types import Scope

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

# What a client may send as its request id: printable, no spaces, bounded.
_CLIENT_ID = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,128}")


def request_id_of(scope: Scope) -> str:
    """The client's X-Request-ID when well-formed, else a new id."""
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _CLIENT_ID.fullmatch(value):
            return str(value.decode())
    return uuid.uuid4().hex
