"""Bind checks, Host names and tokens (prelabel.httpguard); the middleware itself is exercised against real servers
in tests/service/test_security.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from prelabel.errors import PrelabelError
from prelabel.httpguard import allowed_hosts, check_bind, host_name, is_loopback, load_token


def test_loopback_and_host_names() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "example.org"))
    assert host_name("Example.org:8080") == "example.org"
    assert host_name("[::1]:80") == "::1" and host_name("127.0.0.1") == "127.0.0.1"
    assert allowed_hosts("0.0.0.0", ["labeling.example.org"]) == [
        "127.0.0.1",
        "localhost",
        "::1",
        "labeling.example.org",
    ]
    assert "10.0.0.5" in allowed_hosts("10.0.0.5")


def test_a_public_bind_needs_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRELABEL_SERVICE_TOKEN", raising=False)
    check_bind("127.0.0.1", token=None)
    with pytest.raises(PrelabelError, match="--token-file"):
        check_bind("0.0.0.0", token=None)
    check_bind("0.0.0.0", token="t" * 32)
    assert load_token(None) is None
    f = tmp_path / "token"
    f.write_text("  " + "k" * 20 + "  \nignored\n")
    assert load_token(f) == "k" * 20
    f.write_text("short")
    with pytest.raises(PrelabelError, match="at least 16 characters; got 5"):
        load_token(f)
    with pytest.raises(PrelabelError, match="cannot read it"):
        load_token(tmp_path / "missing")
    monkeypatch.setenv("PRELABEL_SERVICE_TOKEN", "e" * 16)
    assert load_token(None) == "e" * 16
