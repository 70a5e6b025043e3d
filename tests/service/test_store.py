"""The durable queue's rules on a real SQLite file, and the write-once output, without a server."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from prelabel.service.delivery import write_once
from prelabel.service.store import Store


def _queue(tmp_path: Path, n: int) -> Store:
    store = Store(tmp_path / "state")
    for i in range(n):
        assert store.enqueue(f"inv{i}", "ep", f"/in/{i}.png", f"/out/{i}.json", f"/fail/{i}.json")
    return store


def test_leases_are_fifo_exclusive_and_expire(tmp_path: Path) -> None:
    store = _queue(tmp_path, 5)
    assert not store.enqueue("inv0", "ep", "/in/0.png", "/out/0.json", "/fail/0.json")  # same id: no second row
    a = store.lease("ep", "A", 2, lease_s=0.2)
    b = store.lease("ep", "B", 10, lease_s=30)
    assert [x.id for x in a] == ["inv0", "inv1"] and [x.id for x in b] == ["inv2", "inv3", "inv4"]
    assert store.lease("ep", "C", 10, lease_s=30) == []  # all held
    assert store.backlog("ep") == 5
    time.sleep(0.3)  # A stops renewing (hung or dead): its leases expire and go to the next worker
    c = store.lease("ep", "C", 10, lease_s=30)
    assert [(x.id, x.attempts) for x in c] == [("inv0", 2), ("inv1", 2)]
    assert not store.finish("inv0", "A", ok=True)  # A lost the lease: its late answer does not count
    assert store.finish("inv0", "C", ok=True, model_seconds=0.01)
    assert not store.finish("inv0", "C", ok=True)  # the final transition happens once
    assert store.release_leases("B") == 3  # B died: its work is queued again at once
    assert [x.id for x in store.lease("ep", "D", 10, lease_s=30)] == ["inv2", "inv3", "inv4"]
    assert store.backlog("ep") == 4


def test_concurrent_workers_never_share_an_invocation(tmp_path: Path) -> None:
    store = _queue(tmp_path, 60)
    got: dict[str, list[str]] = {}

    def worker(name: str) -> None:
        s = Store(tmp_path / "state")  # a connection of its own, like a worker process
        mine: list[str] = []
        while batch := s.lease("ep", name, 3, lease_s=30):
            mine += [x.id for x in batch]
        got[name] = mine

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for ids in got.values() for i in ids]
    assert sorted(every) == sorted(f"inv{i}" for i in range(60))  # each exactly once
    assert store.backlog("ep") == 60  # leased, not finished


def test_write_once_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "o" / "x.json"
    assert write_once(str(out), b"first")
    assert not write_once(str(out), b"second")
    assert out.read_bytes() == b"first"
    assert [p.name for p in out.parent.iterdir()] == ["x.json"]  # no temporary files left


def test_outbox_retries_a_notice_until_2xx_then_gives_up_on_a_dead_receiver(tmp_path: Path) -> None:
    """The outbox against a real HTTP receiver: 503 twice, then 204; a receiver that is gone is given up on."""
    from prelabel.service.metrics import render
    from prelabel.service.outbox import Outbox
    from tests.service.conftest import Webhooks

    store = Store(tmp_path)
    hooks = Webhooks(fail_first=2)
    for iid in ("a", "b"):
        store.enqueue(iid, "ep", "/in.png", f"/out/{iid}.json", f"/out/{iid}.error.json")
        store.lease("ep", "w1", 1, 30)
    payload = {"event": "success", "inference_id": "a", "endpoint": "ep"}
    assert store.finish("a", "w1", ok=True, notice=(f"{hooks.url}/ok", payload))
    assert not store.finish("a", "w1", ok=True, notice=(f"{hooks.url}/ok", payload))  # once: no second notice
    outbox = Outbox(store, attempts=3, backoff_s=0.05, backoff_max_s=0.1)
    deadline = time.monotonic() + 10
    while store.notices("a")[0]["state"] == "pending" and time.monotonic() < deadline:
        outbox.run_once()
        time.sleep(0.02)
    (row,) = store.notices("a")
    assert (row["state"], row["attempts"], row["key"]) == ("delivered", 3, "a:success")
    assert [r["idempotency_key"] for r in hooks.rejected] == ["a:success"] * 2
    (got,) = hooks.events("/ok")
    assert got["idempotency_key"] == got["key"] == "a:success" and got["inference_id"] == "a"
    hooks.close()  # nothing listens there any more

    err = {"event": "error", "inference_id": "b", "endpoint": "ep", "error": "x"}
    assert store.finish("b", "w1", ok=False, error="x", notice=(f"{hooks.url}/err", err))
    deadline = time.monotonic() + 10
    while store.notices("b")[0]["state"] == "pending" and time.monotonic() < deadline:
        outbox.run_once()
        time.sleep(0.02)
    (row,) = store.notices("b")
    assert (row["state"], row["attempts"]) == ("failed", 3) and "ConnectError" in row["last_error"]
    text = render(store)
    assert 'prelabel_webhook_failures_total{endpoint="ep"} 1' in text
    assert 'prelabel_webhook_notices_total{endpoint="ep",state="delivered"} 1' in text


def test_sync_invocations_are_leased_before_queued_async_ones(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for i in range(5):
        store.enqueue(f"async-{i}", "ep", "/in.png", "/o", "/f")
    store.enqueue("sync", "ep", "/in.png", "/o", "/f", {"sync": True}, priority=1)
    assert [lease.id for lease in store.lease("ep", "w1", 2, 30)] == ["sync", "async-0"]
    assert [lease.id for lease in store.lease("ep", "w1", 9, 30)] == [f"async-{i}" for i in range(1, 5)]


def test_a_final_state_and_the_next_lease_share_one_commit(tmp_path: Path) -> None:
    store = _queue(tmp_path, 3)
    store.enqueue("sync", "ep", "/in/s.png", "/out/s.json", "/fail/s.json", priority=1)
    (first,) = store.lease("ep", "A", 1, lease_s=30)
    assert first.id == "sync"
    done, nxt = store.finish_and_lease(first.id, "A", ok=True, notice=("http://h/ok", {"event": "success"}),
                                       then_lease=("ep", 30))  # fmt: skip
    assert done and nxt is not None and (nxt.id, nxt.attempts) == ("inv0", 1)  # next in lease order, held by A
    assert store.invocation("sync")["state"] == "completed" and len(store.notices("sync")) == 1
    assert store.invocation("inv0")["lease_owner"] == "A" and store.holds("inv0", "A")
    # a late answer of a lost lease changes nothing and takes nothing
    assert store.finish_and_lease("sync", "A", ok=True, then_lease=("ep", 30)) == (False, None)
    assert store.invocation("inv1")["state"] == "queued"
    # without then_lease (draining) nothing more is leased; with nothing queued none is
    assert store.finish_and_lease("inv0", "A", ok=True) == (True, None)
    assert [x.id for x in store.lease("ep", "B", 9, lease_s=30)] == ["inv1", "inv2"]
    assert store.finish_and_lease("inv1", "B", ok=False, error="e", then_lease=("ep", 30)) == (True, None)
    assert store.backlog("ep") == 1


def test_state_from_before_priorities_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    old = sqlite3.connect(tmp_path / "service.sqlite3")
    old.execute(
        "CREATE TABLE invocations(id TEXT PRIMARY KEY, endpoint TEXT NOT NULL, input_location TEXT NOT NULL, "
        "output_location TEXT NOT NULL, failure_location TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL "
        "DEFAULT 0, lease_owner TEXT, lease_expires REAL, created_at REAL NOT NULL, started_at REAL, "
        "completed_at REAL, error TEXT, params TEXT NOT NULL DEFAULT '{}', model_seconds REAL)"
    )
    old.execute(
        "INSERT INTO invocations(id,endpoint,input_location,output_location,failure_location,state,created_at) "
        "VALUES ('old','ep','/in.png','/o','/f','queued',1.0)"
    )
    old.commit()
    old.close()
    store = Store(tmp_path)
    store.enqueue("sync", "ep", "/in.png", "/o", "/f", priority=1)
    assert [lease.id for lease in store.lease("ep", "w1", 2, 30)] == ["sync", "old"]


def test_a_0_1_service_database_opens_and_is_migrated(tmp_path: Path) -> None:
    """A 0.1 state file (user_version 0, every table there already) opens: its rows are kept, versions apply."""
    import sqlite3

    from prelabel.service.store import MIGRATIONS, SCHEMA_V1
    from prelabel.sqlite import user_version

    old = sqlite3.connect(tmp_path / "service.sqlite3")
    old.executescript(SCHEMA_V1)
    old.execute("ALTER TABLE invocations ADD COLUMN priority INTEGER NOT NULL DEFAULT 0")
    old.execute("INSERT INTO models VALUES ('m', 'ssd-mobilenet-v2-coco', 'zoo', '{}', 1.0)")
    old.execute(
        "INSERT INTO invocations(id,endpoint,input_location,output_location,failure_location,state,created_at,"
        "priority) VALUES ('kept','ep','/in.png','/o','/f','queued',1.0,0)"
    )
    old.commit()
    assert user_version(old) == 0
    old.close()
    store = Store(tmp_path)
    assert user_version(store.db) == len(MIGRATIONS)
    assert store.one("SELECT model FROM models WHERE name='m'")["model"] == "ssd-mobilenet-v2-coco"
    (lease,) = store.lease("ep", "w1", 5, 30)
    assert lease.id == "kept"
    assert store.finish("kept", "w1", ok=False, error="x", error_type="ModelError")
    assert store.invocation("kept")["error_type"] == "ModelError"
    store.close()
    assert user_version(Store(tmp_path).db) == len(MIGRATIONS)  # opening again changes nothing


def test_a_database_from_a_newer_prelabel_is_refused(tmp_path: Path) -> None:
    import sqlite3

    import pytest

    from prelabel.sqlite import SchemaError

    new = sqlite3.connect(tmp_path / "service.sqlite3")
    new.execute("PRAGMA user_version=99")
    new.close()
    with pytest.raises(SchemaError, match="schema version 99 is newer"):
        Store(tmp_path)
