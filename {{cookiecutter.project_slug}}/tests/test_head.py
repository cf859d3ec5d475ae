"""HEAD on every GET route: the status and headers its GET gets, no body."""

import re

import pytest
from fastapi.routing import iter_route_contexts

from {{ cookiecutter.project_slug }}.upload_storage import OpenFileResponse

from tests.conftest import client_for
from tests.helpers import create_upload

pytestmark = pytest.mark.anyio

# Differ between any two responses, whatever the method.
PER_RESPONSE = {"x-request-id"}


def _get_routes(app) -> list[str]:
    """The path template of every GET route (every router loaded)."""
    app.state.routers.load_all()
    return sorted(
        {
            route.path_format
            for route in iter_route_contexts(app.routes)
            if route.path_format and "GET" in (route.methods or ())
        }
    )


PARAMETER = re.compile(r"\{(\w+)\}")


def _url(template: str, values: dict[str, str]) -> str:
    """The route's path with its parameters filled in ("1" where none is given)."""
    return PARAMETER.sub(lambda name: values.get(name[1], "1"), template)


async def test_every_get_route_answers_head_as_its_get_without_a_body(unlimited_app, api):
    app, admin = unlimited_app
    async with client_for(app) as client:
        upload = await create_upload(client, api, admin)
        values = {"upload_id": upload["id"]}
        answered = {}
        for template in _get_routes(app):
            url = _url(template, values)
            got, head = await client.get(url, headers=admin), await client.head(url, headers=admin)
            assert head.status_code == got.status_code, url
            assert head.content == b"", url
            assert set(head.headers) - PER_RESPONSE == set(got.headers) - PER_RESPONSE, url
            assert head.headers.get("content-type") == got.headers.get("content-type"), url
            answered[template] = head.status_code
    # Each route answered, not only refused: a 404 where no such row was made
    # (the root answers with a redirect to the docs).
    refused = {template for template, status in answered.items() if status not in (200, 307)}
    assert refused <= {t for t in answered if set(PARAMETER.findall(t)) - set(values)}, answered


async def test_head_of_a_stored_file_reads_none_of_it(unlimited_app, api, monkeypatch):
    app, admin = unlimited_app
    opened = []
    real_open = OpenFileResponse._open_file

    def spy(response):
        opened.append(response)
        return real_open(response)

    monkeypatch.setattr(OpenFileResponse, "_open_file", spy)
    async with client_for(app) as client:
        upload = await create_upload(client, api, admin, content=b"x" * 1000)
        url = f"{api}/uploads/{upload['id']}/content"
        head = await client.head(url, headers=admin)
        assert opened == []
        assert (await client.get(url, headers=admin)).content == b"x" * 1000
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == "1000"
    assert len(opened) == 1
