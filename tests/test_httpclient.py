"""The keep-alive client against a real HTTP/1.1 server on 127.0.0.1: one connection for many requests, a
connection the server closed while idle is replaced before use (nothing sent twice), queries and JSON bodies as
the service reads them, a refused connection is a clear error."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from prelabel.httpclient import KeepAliveClient, TransportError


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str, int, bytes]]] = []  # (method, path, client port, body)

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.seen.append((self.command, self.path, self.client_address[1], body))
        out = json.dumps({"path": self.path, "body": body.decode(), "auth": self.headers.get("authorization")})
        data = out.encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if self.path == "/then-close":  # closed after answering, without saying so: as an idle timeout does
            self.close_connection = True

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[ThreadingHTTPServer]:
    _Handler.seen = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_requests_share_one_kept_alive_connection(server: ThreadingHTTPServer) -> None:
    c = KeepAliveClient(f"http://127.0.0.1:{server.server_port}/", timeout_s=5, headers={"Authorization": "Bearer t"})
    first = c.request("POST", "/endpoints/a b/x", params={"input_location": "/d/1.png", "force": True, "n": None})
    assert first.status_code == 200 and first.content_type == "application/json"
    assert first.json()["path"] == "/endpoints/a%20b/x?input_location=%2Fd%2F1.png&force=true"
    assert first.json()["auth"] == "Bearer t"
    second = c.request("POST", "/m", json={"name": "é"})
    assert json.loads(second.json()["body"]) == {"name": "é"}
    assert c.request("GET", "/h").status_code == 200
    ports = {port for _, _, port, _ in _Handler.seen}
    assert len(_Handler.seen) == 3 and len(ports) == 1  # one connection for all three
    c.close()


def test_a_connection_the_server_closed_is_replaced_before_use(server: ThreadingHTTPServer) -> None:
    c = KeepAliveClient(f"http://127.0.0.1:{server.server_port}", timeout_s=5)
    c.request("POST", "/then-close")
    time.sleep(0.2)  # the server has closed its end by now
    assert c.request("POST", "/two").status_code == 200
    assert [path for _, path, _, _ in _Handler.seen] == ["/then-close", "/two"]  # each sent once
    assert len({port for _, _, port, _ in _Handler.seen}) == 2  # on a new connection
    c.close()


def test_no_server_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    c = KeepAliveClient(f"http://127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(TransportError, match=f"POST http://127.0.0.1:{port}/x: no answer from the service"):
        c.request("POST", "/x")
    with pytest.raises(Exception, match="must be http"):
        KeepAliveClient("ftp://127.0.0.1", timeout_s=1)
