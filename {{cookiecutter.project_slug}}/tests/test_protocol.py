"""The bounded protocol (web/protocol.py) in one process, where a response
can be held at any point: the timeout of a pipelined head against the
response still being sent before it. Real servers and hostile clients:
test_front_door.py and test_server.py."""

import asyncio

import pytest
from uvicorn import Config, Server

from {{ cookiecutter.project_slug }}.process.serving import protocol_class

from tests.in_process import HeldApp, read_head, send_request, serving

pytestmark = pytest.mark.anyio

HEAD_TIMEOUT_SECONDS = 0.2


async def test_a_response_being_sent_is_never_cut_by_the_next_heads_timeout(settings):
    app = HeldApp()
    protocol = type("Protocol", (protocol_class(settings),), {"head_timeout": HEAD_TIMEOUT_SECONDS})
    server = Server(Config(app, http=protocol, lifespan="off", log_config=None))
    async with serving(server) as (port, _task):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # A response held between its head and its body, and behind it the
        # start of a head that never ends.
        await send_request(writer, "/held-body", then=b"GET /quick HTTP/1.1\r\n")
        assert (await read_head(reader)).startswith(b"http/1.1 200")
        # The next head's timeout passes several times while the body waits.
        await asyncio.sleep(5 * HEAD_TIMEOUT_SECONDS)
        app.release.set()
        assert await reader.readexactly(2) == b"ok"
        # Then, with the response whole, that head's own time runs out.
        assert (await read_head(reader)).startswith(b"http/1.1 408")
        writer.close()
