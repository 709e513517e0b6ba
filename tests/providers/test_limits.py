"""The per-provider limiter: a burst queues within max_concurrent and requests_per_minute instead of failing."""

from __future__ import annotations

import asyncio

from autogen_core.models import UserMessage

from providers.guard import GuardedClient
from providers.limits import Limit, ProviderLimiter, shared_limiter
from tests.providers.conftest import Provider

PROMPT = [UserMessage(content="Write the story.", source="user")]


class FakeTime:
    """A clock that moves only when someone sleeps, so rate-limit tests are exact."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def test_burst_of_calls_never_has_more_than_max_concurrent_in_flight_at_the_provider(provider: Provider):
    provider.fake.delay_s = 0.1
    limiter = ProviderLimiter({provider.name: Limit(max_concurrent=2)})
    client = GuardedClient(provider.client(), provider.name, limiter=limiter)
    results = await asyncio.gather(*(client.create(PROMPT) for _ in range(6)))
    await client.close()
    assert all(r.content == provider.fake.reply for r in results)
    assert len(provider.fake.calls) == 6
    assert provider.fake.max_in_flight == 2
    assert limiter.stats(provider.name) == (0, 0)


async def test_without_a_limit_the_same_burst_reaches_the_provider_at_once(provider: Provider):
    provider.fake.delay_s = 0.1
    client = GuardedClient(provider.client(), provider.name, limiter=ProviderLimiter())
    await asyncio.gather(*(client.create(PROMPT) for _ in range(4)))
    await client.close()
    assert provider.fake.max_in_flight == 4


async def test_requests_per_minute_spaces_starts_a_window_apart():
    time = FakeTime()
    limiter = ProviderLimiter({"openai": Limit(requests_per_minute=2)}, clock=time.clock, sleep=time.sleep)
    starts: list[float] = []

    async def call() -> None:
        async with limiter.slot("openai"):
            starts.append(time.now)

    await asyncio.gather(*(call() for _ in range(5)))
    assert starts == [0.0, 0.0, 60.0, 60.0, 120.0]


async def test_rate_window_slides_rather_than_resetting():
    time = FakeTime()
    limiter = ProviderLimiter({"anthropic": Limit(requests_per_minute=2)}, clock=time.clock, sleep=time.sleep)
    starts: list[float] = []
    for pause in (0.0, 30.0, 0.0, 0.0):
        time.now += pause
        async with limiter.slot("anthropic"):
            starts.append(time.now)
    assert starts == [0.0, 30.0, 60.0, 90.0]


async def test_providers_are_limited_independently():
    time = FakeTime()
    limiter = ProviderLimiter({"openai": Limit(requests_per_minute=1)}, clock=time.clock, sleep=time.sleep)
    async with limiter.slot("openai"):
        pass
    async with limiter.slot("gemini"):
        pass
    assert time.now == 0.0


async def test_rate_limit_spaces_real_requests_at_the_fake_server(provider: Provider):
    limiter = ProviderLimiter({provider.name: Limit(requests_per_minute=2)}, window_s=0.4)
    client = GuardedClient(provider.client(), provider.name, limiter=limiter)
    await asyncio.gather(*(client.create(PROMPT) for _ in range(4)))
    await client.close()
    times = sorted(c["t"] for c in provider.fake.calls)
    assert times[2] - times[0] >= 0.39 and times[3] - times[1] >= 0.39


async def test_a_cancelled_waiter_gives_its_place_back():
    limiter = ProviderLimiter({"openai": Limit(max_concurrent=1)})
    release = asyncio.Event()

    async def hold() -> None:
        async with limiter.slot("openai"):
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    assert limiter.stats("openai") == (1, 1)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    release.set()
    await holder
    async with limiter.slot("openai"):
        assert limiter.stats("openai") == (1, 0)


def test_the_worker_shares_one_limiter():
    assert shared_limiter() is shared_limiter()
