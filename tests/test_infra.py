"""The shared infrastructure pieces: the S3 server fixture and the local Ray starter."""

from __future__ import annotations

import pytest

from prelabel import storage


@pytest.mark.s3
def test_s3_server_round_trip_through_storage(s3_server: str) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server})
    fs.mkdir("infra-bucket")
    storage.write_text("s3://infra-bucket/a/b.txt", "hello")
    assert storage.read_text("s3://infra-bucket/a/b.txt") == "hello"
    assert storage.exists("s3://infra-bucket/a/b.txt")
    assert not storage.exists("s3://infra-bucket/a/missing.txt")
