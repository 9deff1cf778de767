"""The access log's direct path (formatted once, batched per loop turn), the JSON encoder of the
wire, and the timestamp format: over real HTTP where a request is involved, plain otherwise."""
import asyncio
import contextlib
import io
import json
import logging
from datetime import datetime, timezone

import pytest

from odh_core.jsonwire import dumpb, dumps
from odh_core.observability import (JsonFormatter, OdhStreamHandler, configure_logging,
                                    direct_access_handler)
from odh_core.testing import eventually
from odh_core.timefmt import UtcStamp


@pytest.fixture
def json_log():
    """configure_logging as `odh-core serve` does, into a buffer; undone afterwards."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), logging.logThreads, logging.logMultiprocessing)
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    try:
        yield stream
    finally:
        for h in root.handlers:
            if isinstance(h, OdhStreamHandler):
                h.flush()
        root.handlers[:] = saved[1]
        root.setLevel(saved[0])
        logging.logThreads, logging.logMultiprocessing = saved[2], saved[3]
        logging.getLogger("tornado.access").setLevel(logging.NOTSET)


@contextlib.contextmanager
def alone():
    """Our handler as the only one on the root logger, as in `odh-core serve`: pytest adds its
    capture handlers around every test phase, and they would send lines down the logging
    path."""
    root = logging.getLogger()
    saved = list(root.handlers)
    root.handlers[:] = [h for h in saved if isinstance(h, OdhStreamHandler)]
    try:
        yield
    finally:
        root.handlers[:] = saved


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(x) for x in stream.getvalue().splitlines() if x]


async def test_direct_access_lines_are_json_redacted_and_complete(odh_server, json_log):
    def two_lines() -> list[dict]:
        access = [x for x in lines(json_log) if x["logger"] == "odh.access"]
        return access if len(access) == 2 else []

    with alone():
        assert direct_access_handler(logging.INFO) is not None  # the path under test is taken
        resp = await odh_server.fetch("/api/toy/whoami?access_token=secret-token-123&x=1",
                                      token="secret-token-123")
        await odh_server.fetch("/api/toy/whoami")  # 401: no identity
        ok, denied = await eventually(two_lines, "two access lines")
    assert "secret-token-123" not in json_log.getvalue()
    assert ok["requestId"] == resp.headers["X-Request-Id"]
    assert ok["msg"].startswith("GET /api/toy/whoami?access_token=") and " 200 " in ok["msg"]
    assert {k: ok[k] for k in ("status", "method", "user", "plugin", "handler", "level")} == {
        "status": 200, "method": "GET", "user": "carol", "plugin": "toy", "handler": "WhoAmI",
        "level": "info"}
    assert ok["ts"].endswith("Z") and isinstance(ok["pid"], int) and ok["duration_ms"] >= 0
    assert denied["status"] == 401 and denied["user"] is None


async def test_access_lines_take_the_logging_path_when_someone_else_listens(odh_server, caplog,
                                                                            json_log):
    with caplog.at_level(logging.INFO):
        assert direct_access_handler(logging.INFO) is None  # caplog's handler must see lines
        await odh_server.fetch("/api/toy/whoami", token="t-alice")
    record = next(r for r in caplog.records if r.name == "odh.access")
    assert record.odh_fields["user"] == "alice"
    # The formatter renders a record the way the direct path writes a line.
    line = json.loads(JsonFormatter().format(record))
    assert line["logger"] == "odh.access" and line["handler"] == "WhoAmI"


def test_direct_path_refuses_filters_and_other_formats(json_log):
    assert direct_access_handler(logging.INFO) is None  # pytest's capture handlers listen
    with alone():
        assert direct_access_handler(logging.INFO) is not None
        logging.getLogger().handlers[0].setLevel(logging.WARNING)
        assert direct_access_handler(logging.INFO) is None  # below the handler's level
        assert direct_access_handler(logging.WARNING) is not None
        access = logging.getLogger("odh.access")
        flt = logging.Filter("nothing")
        access.addFilter(flt)
        try:
            assert direct_access_handler(logging.WARNING) is None
        finally:
            access.removeFilter(flt)
        configure_logging("INFO", "text", json_log)
        assert direct_access_handler(logging.INFO) is None


async def test_batched_lines_keep_their_order_and_reach_the_stream():
    stream = io.StringIO()
    handler = OdhStreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.write_batched("first")
    handler.write_batched("second")
    assert stream.getvalue() == ""  # held until the loop turns
    # Any other record writes what is pending first, so lines stay in order.
    handler.handle(logging.makeLogRecord({"name": "x", "msg": "third", "levelno": 20,
                                          "levelname": "INFO"}))
    assert stream.getvalue().splitlines()[:2] == ["first", "second"]
    assert json.loads(stream.getvalue().splitlines()[2])["msg"] == "third"
    handler.write_batched("fourth")
    await eventually(lambda: stream.getvalue().endswith("fourth\n"), "the loop turn's write")


async def test_a_full_batch_is_written_without_waiting_for_the_loop():
    stream = io.StringIO()
    handler = OdhStreamHandler(stream)
    handler.max_pending = 3
    handler.write_batched("1")
    handler.write_batched("2")
    assert stream.getvalue() == ""
    handler.write_batched("3")  # the batch is full
    assert stream.getvalue() == "1\n2\n3\n"
    handler.write_batched("4")  # ... and the next waits for the loop again
    assert stream.getvalue() == "1\n2\n3\n"
    await eventually(lambda: stream.getvalue().endswith("4\n"), "the loop turn's write")


def test_batched_lines_without_a_loop_or_after_it_closed_are_not_lost():
    stream = io.StringIO()
    handler = OdhStreamHandler(stream)
    handler.write_batched("no loop")  # nobody would turn a loop: written at once
    assert stream.getvalue() == "no loop\n"

    async def leave_one_pending() -> None:
        handler.write_batched("pending")

    loop = asyncio.new_event_loop()
    loop.run_until_complete(leave_one_pending())
    loop.close()  # whether or not its scheduled write ran, nothing may be lost
    handler.write_batched("after")
    handler.flush()
    assert stream.getvalue() == "no loop\npending\nafter\n"


def test_a_broken_stream_costs_lines_not_requests():
    stream = io.StringIO()
    handler = OdhStreamHandler(stream)
    stream.close()
    handler.write_batched("lost")  # no loop: written at once, fails, does not raise


@pytest.mark.parametrize("value", [
    {"a": 1, "b": [True, None, 1.5], "c": {"d": "e"}},
    {"nested": [{"x": ()}], "empty": {}},
    "text", 12, None,
])
def test_wire_json_matches_the_stdlib(value):
    assert json.loads(dumpb(value)) == json.loads(json.dumps(value, default=str))


def test_wire_json_keeps_the_old_spelling_of_what_json_has_no_type_for():
    when = datetime(2026, 11, 22, 22, 5, tzinfo=timezone.utc)
    assert json.loads(dumps({"t": when})) == {"t": str(when)}  # datetime -> str(), as before
    assert json.loads(dumps({1: "int key"})) == {"1": "int key"}
    assert json.loads(dumps({"big": 2 ** 70})) == {"big": 2 ** 70}  # orjson refuses: stdlib
    assert json.loads(dumps({"s": "\udcff"})) == {"s": "\udcff"}  # lone surrogate: stdlib
    assert dumps({"k": "é"}) == '{"k":"é"}'  # UTF-8, compact


@pytest.mark.parametrize("created", [0.0, 1763849100.0, 1763849100.999, 1763849101.0005,
                                     1763849100.5, 4102444799.123])
def test_utc_stamp_matches_isoformat(created):
    expected = datetime.fromtimestamp(created, timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")
    stamp = UtcStamp()
    assert stamp(created) == expected
    assert stamp(created) == expected  # and again from the per-second cache
