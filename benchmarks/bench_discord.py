"""Ten simultaneous /assess in simcord's in-memory Discord: time to the deferral, and event-loop lag.

What it measures (real bot, real discord.py, real chromadb and embedder, indicator engine):

* **time to deferral**: from the moment each INTERACTION_CREATE is handed to the bot to the moment
  its ``interaction.response.defer()`` call returns (the acknowledgement Discord needs within 3 s).
  Aim: p99 <= 100 ms.
* **event-loop lag**: a ticker task sleeps 10 ms in a loop and records by how much each sleep
  overshoots while the assessments run in the worker pool. Aim: worst <= 100 ms.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/bench_discord.py [--rounds 3] [--users 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # discord_helpers (not shipped)

import discord  # noqa: E402
from discord_helpers import make_bot, running, seed, shared_app, simultaneous  # noqa: E402

GUILD = 920_000_000_000_000_001
QUESTIONS = [
    "Will Russia send troops into Kazakhstan?",
    "Will Russia send troops into Armenia?",
    "Would Russia intervene militarily in Belarus?",
    "Will Russia send troops into Moldova?",
    "Would Russia deploy forces to Kyrgyzstan?",
]




async def ticker(stop: asyncio.Event, overshoots: list[float], period: float = 0.010) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(period)
        overshoots.append(max(0.0, time.perf_counter() - t0 - period))


async def bench(rounds: int, users: int, max_concurrent: int) -> None:
    shared = shared_app()
    t = time.perf_counter()
    seed(shared, GUILD)
    print(f"setup: app + starter corpus ingested in {time.perf_counter() - t:.1f} s")

    deferred_at: dict[int, float] = {}
    original_defer = discord.InteractionResponse.defer

    async def timed_defer(self: discord.InteractionResponse, **kwargs):  # type: ignore[no-untyped-def]
        result = await original_defer(self, **kwargs)
        deferred_at[self._parent.id] = time.perf_counter()
        return result

    discord.InteractionResponse.defer = timed_defer  # type: ignore[method-assign]

    latencies: list[float] = []
    lags: list[float] = []
    walls: list[float] = []
    assess_s: list[float] = []
    bot = make_bot(shared, assess_cooldown_s=0, max_concurrent_llm=max_concurrent)
    try:
        async with running(bot) as env:
            guild = env.create_guild(id=GUILD)
            channel = guild.create_text_channel("bench")
            members = [guild.add_member(env.create_user(f"user{i}")) for i in range(users)]
            await members[0].slash(channel, "assess", question=QUESTIONS[0])  # warm-up (caches, first query)
            for _ in range(rounds):
                stop = asyncio.Event()
                overshoots: list[float] = []
                tick = asyncio.create_task(ticker(stop, overshoots))
                await asyncio.sleep(0.05)
                sent: dict[int, float] = {}
                t0 = time.perf_counter()
                with simultaneous(env):
                    results = []
                    for i, m in enumerate(members):
                        emitted = time.perf_counter()
                        r = await m.slash(channel, "assess", question=QUESTIONS[i % len(QUESTIONS)])
                        sent[r._interaction.id] = emitted
                        results.append(r)
                await env.settle()
                walls.append(time.perf_counter() - t0)
                stop.set()
                await tick
                missing = [i for i in sent if i not in deferred_at]
                if missing or not all(r.response is not None and r.response.embeds for r in results):
                    raise SystemExit(f"not every interaction was answered ({len(missing)} never deferred)")
                latencies += [deferred_at[i] - sent[i] for i in sent]
                lags += overshoots
                assess_s += [
                    float(r.response.embeds[-1].footer.text.split(" · ")[-2].rstrip(" s")) for r in results
                ]
    finally:
        discord.InteractionResponse.defer = original_defer  # type: ignore[method-assign]

    ms = [x * 1000 for x in latencies]
    lag_ms = [x * 1000 for x in lags]
    print(
        f"{rounds} round(s) x {users} simultaneous /assess, max_concurrent_llm={max_concurrent}, {len(ms)} samples"
    )
    print(
        f"time to deferral   p50 {float(np.percentile(ms, 50)):6.1f} ms   p99 {float(np.percentile(ms, 99)):6.1f} ms   "
        f"max {max(ms):6.1f} ms   (aim: p99 <= 100 ms)"
    )
    print(
        f"event-loop lag     p50 {float(np.percentile(lag_ms, 50)):6.1f} ms   p99 {float(np.percentile(lag_ms, 99)):6.1f} ms   "
        f"worst {max(lag_ms):6.1f} ms   (aim: worst <= 100 ms; {len(lag_ms)} ticks of 10 ms)"
    )
    print(
        f"all {users} answered in {statistics.mean(walls):.2f} s per round (mean); each answer's own time, "
        f"queue included: {min(assess_s):.1f}-{max(assess_s):.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--max-concurrent", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(bench(args.rounds, args.users, args.max_concurrent))


if __name__ == "__main__":
    main()
