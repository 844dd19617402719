"""A FIFO limit on concurrent assessments that tells each waiter its place in line.

An ``asyncio.Semaphore`` would bound the work, but a user whose request waits behind others would
see "thinking…" and nothing else. Here each waiter is a ticket in a FIFO list; whenever the line
moves, every waiter is woken and reports its new position (the cog edits the deferred message:
"Queued: 3rd in line…"). Single-threaded (event loop only), so no lock is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from discord.ext import commands

Report = Callable[[int], Awaitable[None]]


@dataclass(eq=False)
class _Ticket:
    moved: asyncio.Event = field(default_factory=asyncio.Event)
    granted: bool = False


class AssessQueue:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self.active = 0
        self._waiting: list[_Ticket] = []

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def acquire(self, report: Report | None = None) -> None:
        """Wait for a slot; ``report(position)`` is awaited each time the position (1-based) changes."""
        if self.active < self.limit and not self._waiting:
            self.active += 1
            return
        ticket = _Ticket()
        self._waiting.append(ticket)
        last = 0
        try:
            while not ticket.granted:
                position = self._waiting.index(ticket) + 1
                if report is not None and position != last:
                    last = position
                    with contextlib.suppress(Exception):  # a failed status edit must not lose the place
                        await report(position)
                    continue  # the line may have moved while reporting
                ticket.moved.clear()
                await ticket.moved.wait()
        except BaseException:
            if ticket.granted:
                self.release()
            else:
                self._waiting.remove(ticket)
                self._wake()
            raise

    def release(self) -> None:
        """Hand the slot to the first waiter (the active count stays), or free it."""
        if self._waiting:
            first = self._waiting.pop(0)
            first.granted = True
            first.moved.set()
            self._wake()
        else:
            self.active -= 1

    def _wake(self) -> None:
        for t in self._waiting:
            t.moved.set()

    @contextlib.asynccontextmanager
    async def slot(self, report: Report | None = None) -> AsyncIterator[None]:
        await self.acquire(report)
        try:
            yield
        finally:
            self.release()


class UserCooldown:
    """Per-(guild, user) rate limit shared by /assess, mentions, "Assess this" and "Re-run"
    (``per`` seconds; 0 disables it): discord.py's own :class:`~discord.ext.commands.CooldownMapping`
    (one use per ``per`` seconds per key, expired buckets dropped), keyed by ``(guild_id, user_id)``.

    Looking (``consume=False``) and using are separate so a refused question costs nothing.
    """

    def __init__(self, per: float) -> None:
        self.per = per
        self._mapping: commands.CooldownMapping[tuple[int | None, int]] = commands.CooldownMapping(
            commands.Cooldown(1, max(per, 0.001)), lambda key: key
        )

    def retry_after(self, guild_id: int | None, user_id: int, *, consume: bool = True) -> float:
        """0 when the user may go ahead (and the use is recorded), else the seconds left."""
        if self.per <= 0:
            return 0.0
        # monotonic like discord.py's other timers (simcord's virtual clock moves it); + 1 because
        # Cooldown treats a current time of 0.0 as "not given" and reads time.time() instead
        now = time.monotonic() + 1.0
        bucket = self._mapping.get_bucket((guild_id, user_id), now)
        assert bucket is not None
        if not consume:
            return bucket.get_retry_after(now)
        return bucket.update_rate_limit(now) or 0.0

    def refund(self, guild_id: int | None, user_id: int) -> None:
        """Forget the last use (a refused question should not cost the user a cooldown)."""
        bucket = self._mapping.get_bucket((guild_id, user_id))
        if bucket is not None:
            bucket.reset()
