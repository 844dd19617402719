"""The assessment queue (FIFO, positions reported as the line moves) and the per-user cooldown."""

from __future__ import annotations

import asyncio

import pytest

from bot.discord.bot import collection_for
from bot.discord.queue import AssessQueue, UserCooldown


async def spin() -> None:
    """Let every ready task run (a few loop iterations; no wall-clock waiting)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_queue_is_fifo_bounded_and_reports_positions() -> None:
    queue = AssessQueue(2)
    positions: dict[str, list[int]] = {}
    order: list[str] = []
    gates = {name: asyncio.Event() for name in "abcde"}
    running = 0
    peak = 0

    async def job(name: str) -> None:
        nonlocal running, peak

        async def report(position: int) -> None:
            positions.setdefault(name, []).append(position)

        async with queue.slot(report):
            running += 1
            peak = max(peak, running)
            order.append(name)
            await gates[name].wait()
            running -= 1

    tasks = [asyncio.create_task(job(n)) for n in "abcde"]
    await asyncio.sleep(0)
    assert order == ["a", "b"] and queue.waiting == 3
    for name in "abcde":
        gates[name].set()
        await spin()
    await asyncio.gather(*tasks)
    assert order == list("abcde") and peak == 2
    assert positions == {"c": [1], "d": [2, 1], "e": [3, 2, 1]}
    assert queue.active == 0 and queue.waiting == 0


async def test_a_cancelled_waiter_leaves_the_line_and_the_others_move_up() -> None:
    queue = AssessQueue(1)
    await queue.acquire()
    seen: list[int] = []

    async def report(position: int) -> None:
        seen.append(position)

    first = asyncio.create_task(queue.acquire())
    second = asyncio.create_task(queue.acquire(report))
    await asyncio.sleep(0)
    assert seen == [2]
    first.cancel()
    await spin()
    assert seen == [2, 1] and queue.waiting == 1
    queue.release()
    await second
    assert queue.active == 1 and queue.waiting == 0


async def test_waiting_too_long_times_out_cleanly() -> None:
    queue = AssessQueue(1)
    await queue.acquire()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.acquire(), timeout=0.01)
    assert queue.waiting == 0
    queue.release()
    assert queue.active == 0


def test_cooldown_per_user_refund_and_off() -> None:
    cd = UserCooldown(30)
    assert cd.retry_after(1, 7) == 0
    assert 29 < cd.retry_after(1, 7) <= 30
    assert cd.retry_after(1, 8) == 0 and cd.retry_after(2, 7) == 0  # per user, per server
    assert cd.retry_after(1, 9, consume=False) == 0 and cd.retry_after(1, 9) == 0
    cd.refund(1, 7)
    assert cd.retry_after(1, 7) == 0
    off = UserCooldown(0)
    assert off.retry_after(1, 7) == 0 and off.retry_after(1, 7) == 0


def test_collection_names_fit_chroma() -> None:
    assert collection_for("corpus", 123) == "corpus-g123"
    assert collection_for("corpus", None) == "corpus"
    long = collection_for("x" * 60, 1_234_567_890_123_456_789)
    assert len(long) == 63 and long.endswith("-g1234567890123456789")
