"""A worker that leaves after max_requests without failing a request.

uvicorn, on reaching its request limit, closes every idle kept-alive
connection at once; a client that has just sent its next request on one
gets no answer (a reset, or "disconnected without a response"). Here the
worker first stops accepting connections and answers every request still
coming on the ones it holds with `Connection: close`; a connection that
stays idle is closed by its keep-alive timeout, as at any other time.

A response whose head has already left promised the client it may send
again: its connection stays open for one more request, answered with
`Connection: close`. Closing it after the body instead would reset the
request the client may already be sending on it.
"""

import asyncio
import socket

from uvicorn import Server

CLOSE = (b"connection", b"close")
POLL_SECONDS = 0.05


class RecyclingServer(Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if not self.should_exit:  # not a signal: the request limit (main_loop's other way out)
            await self.drain(sockets)
        await super().shutdown(sockets)

    async def drain(self, sockets: list[socket.socket] | None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        # Read by each request's response from now on (main_loop no longer
        # refreshes them); the requests under way whose head has not left yet
        # are told the same.
        self.server_state.default_headers = [*self.server_state.default_headers, CLOSE]
        for connection in self.server_state.connections:
            cycle = getattr(connection, "cycle", None)
            if cycle is not None and not cycle.response_started:
                cycle.keep_alive = False
        # uvicorn tracks connections in a set, without an event to wait on.
        # The first look comes after a poll: a connection accepted just before
        # the listener closed joins the set a loop iteration or two later.
        # A signal meanwhile ends the wait: uvicorn's shutdown takes over.
        for _ in range(round((self.config.timeout_keep_alive + 1) / POLL_SECONDS)):
            await asyncio.sleep(POLL_SECONDS)
            if not self.server_state.connections or self.should_exit:
                return
