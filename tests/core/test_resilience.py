"""Circuit breaker, retry policy, targets and the resilient proxy handler."""
import re

import aiohttp
import pytest

from odh_core import (CircuitBreaker, HeaderPolicy, Plugin, ResilientProxyHandler, RetryPolicy,
                      Route, Target, TargetRegistry, TargetSettings, hookimpl, service_url)
from odh_core.testing import RawUpstream, static_identities

from .conftest import IDENTITIES


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- breaker ------------------------------------------------------------------------------------
def test_breaker_opens_after_consecutive_failures_only():
    clock = FakeClock()
    b = CircuitBreaker(failure_threshold=3, reset_timeout=10, clock=clock)
    b.record_failure(); b.record_failure(); b.record_success()
    b.record_failure(); b.record_failure()
    assert b.state == "closed" and b.allow()
    b.record_failure()
    assert b.state == "open" and not b.allow()
    assert b.retry_after() == 10


def test_breaker_half_open_lets_one_probe_through():
    clock = FakeClock()
    changes = []
    b = CircuitBreaker(failure_threshold=1, reset_timeout=5, clock=clock, on_change=changes.append)
    b.record_failure()
    clock.now += 4.9
    assert not b.allow()
    clock.now += 0.2
    assert b.state == "half-open"
    assert b.allow()            # the probe
    assert not b.allow()        # a second caller while the probe is out
    b.record_failure()          # probe failed: open for another reset_timeout
    assert b.state == "open" and not b.allow()
    clock.now += 5
    assert b.allow()
    b.record_success()
    assert b.state == "closed" and b.allow() and b.allow()
    assert changes == ["open", "half-open", "open", "half-open", "closed"]


def test_breaker_release_frees_the_probe():
    clock = FakeClock()
    b = CircuitBreaker(failure_threshold=1, reset_timeout=1, clock=clock)
    b.record_failure()
    clock.now += 1
    assert b.allow() and not b.allow()
    b.release()
    assert b.allow()


# -- retry policy -------------------------------------------------------------------------------
def test_retry_only_idempotent_bodiless_and_bounded():
    p = RetryPolicy(attempts=3)
    assert p.allows("GET", 1, has_body=False) and p.allows("get", 2, has_body=False)
    assert not p.allows("GET", 3, has_body=False)
    assert not p.allows("POST", 1, has_body=False)
    assert not p.allows("PATCH", 1, has_body=False)
    assert not p.allows("PUT", 1, has_body=True)
    assert not RetryPolicy(attempts=1).allows("GET", 1, has_body=False)


def test_retry_backoff_is_exponential_capped_and_jittered():
    p = RetryPolicy(backoff=0.1, max_backoff=0.3, jitter=0.5)
    assert [p.delay(n, rand=lambda: 0.0) for n in (1, 2, 3, 4)] == pytest.approx(
        [0.1, 0.2, 0.3, 0.3])
    assert p.delay(2, rand=lambda: 1.0) == pytest.approx(0.1)
    assert RetryPolicy(jitter=0).delay(1, rand=lambda: 1.0) == pytest.approx(0.05)


# -- targets ------------------------------------------------------------------------------------
def test_service_url_template_and_validation():
    assert service_url("bff", "opendatahub", 8043, tls=True) == \
        "https://bff.opendatahub.svc.cluster.local:8043"
    assert service_url("bff", "ns", "80") == "http://bff.ns.svc.cluster.local:80"
    for bad in (("Bad_Name", "ns", 80), ("bff", "ns/x", 80), ("bff", "ns", 0),
                ("bff", "ns", "http")):
        with pytest.raises(ValueError):
            service_url(*bad)


def test_registry_keeps_a_target_and_its_breaker_while_unchanged():
    reg = TargetRegistry()
    a = reg.ensure("a", "http://x:1/", settings=TargetSettings(failure_threshold=1))
    a.breaker.record_failure()
    assert reg.ensure("a", "http://x:1", settings=TargetSettings(failure_threshold=1)) is a
    assert reg.open_targets() == [a]
    b = reg.ensure("a", "http://x:2", settings=TargetSettings(failure_threshold=1))
    assert b is not a and b.breaker.state == "closed"
    reg.retain([])
    assert reg.get("a") is None and list(reg) == []


# -- the handler against real upstreams ---------------------------------------------------------
class Forward(ResilientProxyHandler):
    async def resolve(self):
        return self.plugin.target, self.path_args[0]


class ForwardPlugin(Plugin):
    target: Target

    @hookimpl
    def register_routes(self):
        return [Route(r"/rfwd/(.*)", Forward)]


@pytest.fixture
def odh_extra_plugins():
    return [("rfwd", ForwardPlugin), static_identities(IDENTITIES)]


async def test_get_is_retried_on_reset_and_post_is_not(odh_server):
    # Two resets: aiohttp itself retries an idempotent request once; ours does the rest.
    up = RawUpstream()
    up.resets_left = 2
    url = (await up.start()).url
    try:
        reg = TargetRegistry(odh_server.app.metrics.for_plugin("rfwd"))
        plugin = odh_server.app.plugin("rfwd")
        plugin.target = reg.ensure("t", url, settings=TargetSettings(
            retry=RetryPolicy(attempts=3, backoff=0.001)))
        resp = await odh_server.fetch("/rfwd/x", token="t-alice")
        assert resp.status == 200 and resp.body == b"3"
        metrics = (await odh_server.fetch("/metrics")).text
        retried = re.search(r'odh_rfwd_upstream_retries_total\{target="t"\} (\S+)', metrics)
        assert retried and float(retried.group(1)) >= 1
        up.connections, up.resets_left = 0, 1
        resp = await odh_server.fetch("/rfwd/x", "POST", token="t-alice", body=b"")
        assert resp.status == 502 and up.connections == 1
    finally:
        await up.stop()


async def test_open_breaker_answers_503_without_calling(odh_server):
    up = RawUpstream()
    up.mode = "reset"
    url = (await up.start()).url
    try:
        reg = TargetRegistry(odh_server.app.metrics.for_plugin("rfwd"))
        plugin = odh_server.app.plugin("rfwd")
        plugin.target = reg.ensure("t", url, policy=HeaderPolicy(authorize=True),
                                   settings=TargetSettings(failure_threshold=2, reset_timeout=60,
                                                           retry=RetryPolicy(attempts=1)))
        for _ in range(2):
            assert (await odh_server.fetch("/rfwd/x", token="t-alice")).status == 502
        seen = up.connections
        resp = await odh_server.fetch("/rfwd/x", token="t-alice")
        assert resp.status == 503 and "circuit open" in resp.json()["message"]
        assert int(resp.headers["Retry-After"]) >= 1
        assert up.connections == seen
        metrics = (await odh_server.fetch("/metrics")).text
        assert 'odh_rfwd_upstream_breaker_state{target="t"} 2.0' in metrics
    finally:
        await up.stop()


async def test_target_fetch_retries_and_reads(odh_server):
    up = RawUpstream()
    up.resets_left = 2
    url = (await up.start()).url
    try:
        t = Target("f", url, settings=TargetSettings(retry=RetryPolicy(backoff=0.001)))
        status, _, body = await t.fetch(odh_server.app.http, "GET", "/x")
        assert (status, body) == (200, b"3")
        up.connections, up.resets_left = 0, 1
        with pytest.raises(aiohttp.ClientError):
            await t.fetch(odh_server.app.http, "POST", "/x", data=b"q")
    finally:
        await up.stop()
