"""Every metric a running app (every plugin that starts in tests) exposes is in the operator
guide, which lists the metrics of an app built with every installed plugin."""
import re

from odh_core.docs import DOCS

# Registered in a plugin's startup hook, so an app that is only built (what `odh-core docs`
# sees) does not have them. Listed here so none is missed silently; the owning plugin should
# register them at build time (then this test fails until the entry is removed).
REGISTERED_AT_START: set[str] = set()


async def test_every_exposed_metric_is_documented(odh_server):
    scrape = await odh_server.fetch("/metrics")
    assert scrape.status == 200
    names = set(re.findall(r"^# HELP (\S+) ", scrape.text, re.M))
    assert "odh_http_request_duration_seconds" in names
    guide = (DOCS / "operator-guide.md").read_text()
    assert {n for n in names if f"`{n}`" not in guide} == REGISTERED_AT_START
