"""Whether a request path falls under a prefix: the one rule for every layer that asks.

A prefix covers itself and the paths below it, by whole segments only:
/api/health covers /api/health/ready but not /api/healthz. The router
registry, the body limits, operationIds and the memory layers' exemptions
all ask here, so none can match a prefix differently.
"""

from collections.abc import Iterable


def matching_prefix(path: str, prefixes: Iterable[str]) -> str | None:
    """The first of `prefixes` that `path` falls under, or None. Give nested
    prefixes before their parents for the most specific one."""
    for prefix in prefixes:
        if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return prefix
    return None
