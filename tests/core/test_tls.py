"""HTTPS serving with a test certificate, and a rotated certificate picked up without restart."""
import asyncio
import os
import signal
import ssl

from cryptography import x509
from tornado.netutil import bind_sockets

from odh_core.config import validate_settings
from odh_sandbox.kube.tls import make_tls
from odh_core.server import serve_sockets


async def served_serial(port: int, ca_file: str) -> int:
    ctx = ssl.create_default_context(cafile=ca_file)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                   server_hostname="localhost")
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        response = await reader.read()
        assert response.startswith(b"HTTP/1.1 200")
        assert b"Strict-Transport-Security: max-age=" in response
    finally:
        writer.close()
        await writer.wait_closed()
    return x509.load_der_x509_certificate(der).serial_number


async def test_tls_serving_and_certificate_rotation(tmp_path):
    files = make_tls(tmp_path)
    settings = validate_settings({
        "sandbox": {"mode": "off"}, "plugin_autoload": False, "logging": {"access_log": False},
        "server": {"tls": {"cert": files.cert_file, "key": files.key_file,
                           "reload_interval": 3600}}})
    sockets = bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    apps = []
    ready = asyncio.Event()
    server = asyncio.create_task(serve_sockets(
        settings, sockets, ready=lambda app, _p: (apps.append(app), ready.set())))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        first = await served_serial(port, files.ca_file)
        assert not apps[0].tls.check()  # nothing changed yet
        make_tls(tmp_path)  # same CA, new server certificate in place
        assert apps[0].tls.check()
        second = await served_serial(port, files.ca_file)
        assert first != second
    finally:
        os.kill(os.getpid(), signal.SIGTERM)  # the real shutdown path
        await asyncio.wait_for(server, 10)
