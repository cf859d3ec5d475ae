"""Request ids and the access log (logs.py), in process; test_server.py reads
the lines real servers write, single and under gunicorn."""

import logging
import re

import pytest

from {{ cookiecutter.project_slug }}.web.logs import RequestIdFilter

from tests.conftest import client_for
from tests.helpers import assert_error

GENERATED = re.compile(r"[0-9a-f]{32}")
ACCESS = "{{ cookiecutter.project_slug }}.access"
MISSING = "0" * 32  # an upload id of the right shape that names no upload

pytestmark = pytest.mark.anyio


async def test_a_well_formed_client_id_is_kept(client, api, alice):
    response = await client.get(f"{api}/uploads", headers={**alice, "X-Request-ID": "trace-42"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "trace-42"


@pytest.mark.parametrize(
    "sent",
    [None, "has spaces", "x" * 129, "semi;colon", "ünïcode".encode(), ""],
    ids=["none", "spaces", "too-long", "semicolon", "non-ascii", "empty"],
)
async def test_otherwise_a_new_id_is_made(client, api, sent):
    headers = {} if sent is None else {"X-Request-ID": sent}
    response = await client.get(f"{api}/health", headers=headers)
    assert GENERATED.fullmatch(response.headers["x-request-id"])


async def test_every_error_body_names_the_request_id(client, api, alice):
    sent = {"X-Request-ID": "report-me"}
    for response, status, code in [
        (await client.get(f"{api}/uploads", headers=sent), 401, "unauthorized"),
        (
            await client.get(f"{api}/uploads?page_size=0", headers={**alice, **sent}),
            422,
            "validation_error",
        ),
        (await client.get(f"{api}/nowhere", headers=sent), 404, "not_found"),
    ]:
        assert assert_error(response, status, code)["request_id"] == "report-me"


async def _broken() -> dict[str, str]:
    raise RuntimeError("a bug")


async def test_a_bug_logs_its_request_id_with_the_traceback(app, api):
    app.router.add_api_route(f"{api}/broken", _broken)
    records = _Recorder()
    root = logging.getLogger()
    root.addHandler(records)
    try:
        async with client_for(app) as client:
            response = await client.get(f"{api}/broken", headers={"X-Request-ID": "bug-1"})
    finally:
        root.removeHandler(records)
    assert assert_error(response, 500, "error")["request_id"] == "bug-1"
    (failure,) = [record for record in records.records if record.exc_info]
    assert getattr(failure, "request_id", None) == "bug-1"


async def test_one_access_record_per_request(client, api, alice, caplog):
    caplog.set_level(logging.INFO, logger=ACCESS)
    await client.get(f"{api}/uploads/{MISSING}", headers={**alice, "X-Request-ID": "a-1"})
    await client.get(f"{api}/nowhere", headers={"X-Request-ID": "a-2"})
    found, missing = [record for record in caplog.records if record.name == ACCESS]
    assert (found.method, found.route, found.path, found.status) == (
        "GET",
        api + "/uploads/{upload_id}",
        f"{api}/uploads/{MISSING}",
        404,
    )
    assert found.request_id == "a-1" and found.duration_ms > 0 and found.client
    assert (missing.route, missing.status, missing.request_id) == (None, 404, "a-2")


async def test_no_access_record_below_info(client, api, caplog):
    caplog.set_level(logging.WARNING, logger=ACCESS)
    await client.get(f"{api}/health")
    assert not [record for record in caplog.records if record.name == ACCESS]


class _Recorder(logging.Handler):
    """Keeps the records as a configured handler sees them (with the filter)."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RequestIdFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
