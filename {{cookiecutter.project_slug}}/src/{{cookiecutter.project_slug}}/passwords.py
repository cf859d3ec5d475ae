"""Password hashing bounded in memory and time.

argon2id (argon2-cffi), in threads: at most PASSWORD_HASH_CONCURRENCY hashes at
once per worker, the rest wait up to PASSWORD_HASH_WAIT_SECONDS and then get a
503 with Retry-After. An unknown user is checked against a dummy hash of the
same cost, so it takes as long as a wrong password; that hash is made at
start (`prepare`, in the lifespan), not by the first unknown email.

Why it is built this way: docs/design-notes.md, "passwords.py".
"""

import asyncio
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import ServiceError
from .settings import Settings

RETRY_AFTER_SECONDS = 1

T = TypeVar("T")


class Passwords:
    def __init__(self, settings: Settings) -> None:
        self.hasher = PasswordHasher(
            time_cost=settings.password_hash_time_cost,
            memory_cost=settings.password_hash_memory_kib,
            parallelism=1,
        )
        self.slots = asyncio.Semaphore(settings.password_hash_concurrency)
        self.wait_seconds = settings.password_hash_wait_seconds
        self.running = 0
        self.peak = 0  # the most hashes seen running at once (tests, metrics)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await self._bounded(self.hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches `stored`; None (no such user, or no
        password) costs a verification too and is never a match."""
        if stored is None:
            await self._bounded(self._verify, await self._dummy_hash(), password)
            return False
        return await self._bounded(self._verify, stored, password)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    async def prepare(self) -> None:
        """Make the dummy hash now: made by the first unknown email, it
        doubled that login's time, and told the email was unknown."""
        await self._dummy_hash()

    async def _dummy_hash(self) -> str:
        if self._dummy is None:  # made here only without an app (commands, tests)
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        return self._dummy

    async def _bounded(self, work: Callable[..., T], *args: Any) -> T:
        try:
            async with asyncio.timeout(self.wait_seconds):
                await self.slots.acquire()
        except TimeoutError:
            raise ServiceError(
                503,
                "Too many password checks at once; retry shortly",
                "service_unavailable",
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from None
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            return await anyio.to_thread.run_sync(work, *args)
        finally:
            self.running -= 1
            self.slots.release()
