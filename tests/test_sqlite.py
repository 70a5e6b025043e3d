"""The one SQLite layer: rollback-safe transactions, migrations keyed on user_version, files from prelabel 0.1."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from prelabel import sqlite
from prelabel.core.labels import Frame, FrameRecord
from prelabel.sqlite import SchemaError

V1 = "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
V2 = "ALTER TABLE things ADD COLUMN colour TEXT NOT NULL DEFAULT 'grey';"


def test_a_failed_write_rolls_back_and_the_connection_stays_usable(tmp_path: Path) -> None:
    conn = sqlite.connect(tmp_path / "t.sqlite")
    sqlite.migrate(conn, [V1])
    conn.execute("INSERT INTO things (name) VALUES ('a')")
    with pytest.raises(sqlite3.IntegrityError), sqlite.transaction(conn):
        conn.execute("INSERT INTO things (name) VALUES ('b')")
        conn.execute("INSERT INTO things (name) VALUES ('a')")  # UNIQUE fails: 'b' must go too
    assert not conn.in_transaction
    assert [r["name"] for r in conn.execute("SELECT name FROM things ORDER BY id")] == ["a"]
    with pytest.raises(RuntimeError), sqlite.transaction(conn):  # any exception, not only SQLite's
        conn.execute("INSERT INTO things (name) VALUES ('c')")
        raise RuntimeError("caller failed half way")
    with sqlite.transaction(conn):
        conn.execute("INSERT INTO things (name) VALUES ('d')")
    assert [r["name"] for r in conn.execute("SELECT name FROM things ORDER BY id")] == ["a", "d"]
    # another connection sees the committed state (nothing left locked by the failed transactions)
    other = sqlite.connect(tmp_path / "t.sqlite", busy_timeout_s=0.5)
    with sqlite.transaction(other):
        other.execute("INSERT INTO things (name) VALUES ('e')")
    assert conn.execute("SELECT COUNT(*) FROM things").fetchone()[0] == 3


def test_connect_sets_the_pragmas(tmp_path: Path) -> None:
    conn = sqlite.connect(tmp_path / "p.sqlite", synchronous="FULL", busy_timeout_s=2.5)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_migrations_apply_once_in_order(tmp_path: Path) -> None:
    calls: list[int] = []

    def v3(conn: sqlite3.Connection) -> None:
        calls.append(1)
        conn.execute("UPDATE things SET colour = 'blue'")

    path = tmp_path / "m.sqlite"
    conn = sqlite.connect(path)
    assert sqlite.migrate(conn, [V1]) == 1
    conn.execute("INSERT INTO things (name) VALUES ('a')")
    assert sqlite.migrate(conn, [V1, V2, v3]) == 3
    assert sqlite.migrate(conn, [V1, V2, v3]) == 3  # nothing runs twice (V1 has no IF NOT EXISTS)
    reopened = sqlite.connect(path)
    assert sqlite.migrate(reopened, [V1, V2, v3]) == 3
    assert calls == [1]
    assert sqlite.user_version(reopened) == 3
    assert dict(reopened.execute("SELECT name, colour FROM things").fetchone()) == {"name": "a", "colour": "blue"}


def test_a_failed_migration_leaves_the_file_at_the_last_whole_version(tmp_path: Path) -> None:
    conn = sqlite.connect(tmp_path / "f.sqlite")
    bad = "CREATE TABLE more (x INTEGER);\nINSERT INTO nowhere VALUES (1);"
    with pytest.raises(SchemaError, match="migration to version 2 failed"):
        sqlite.migrate(conn, [V1, bad], path="f.sqlite")
    assert sqlite.user_version(conn) == 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'more'").fetchone() is None
    assert sqlite.migrate(conn, [V1, "CREATE TABLE more (x INTEGER);"]) == 2


def test_a_file_from_a_newer_prelabel_is_refused(tmp_path: Path) -> None:
    conn = sqlite.connect(tmp_path / "n.sqlite")
    sqlite.migrate(conn, [V1, V2])
    with pytest.raises(SchemaError) as err:
        sqlite.migrate(conn, [V1], path="n.sqlite")
    assert "n.sqlite" in str(err.value) and "newer" in str(err.value) and "upgrade prelabel" in str(err.value)
    assert sqlite.user_version(conn) == 2


def test_an_unversioned_file_with_the_tables_is_adopted_as_version_1(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)  # how 0.1 made its files: executescript, user_version never set
    old.executescript(V1 + "INSERT INTO things (name) VALUES ('kept');")
    old.close()
    conn = sqlite.connect(path)
    assert sqlite.adopt_unversioned(conn, "things", 1, baseline=V1.replace("TABLE", "TABLE IF NOT EXISTS")) is True
    assert sqlite.adopt_unversioned(conn, "things", 1) is False  # only once
    assert sqlite.migrate(conn, [V1, V2]) == 2  # V1 (not idempotent) is skipped, V2 applies
    assert dict(conn.execute("SELECT name, colour FROM things").fetchone()) == {"name": "kept", "colour": "grey"}


def test_a_new_or_empty_file_is_not_adopted(tmp_path: Path) -> None:
    conn = sqlite.connect(tmp_path / "new.sqlite")
    assert sqlite.adopt_unversioned(conn, "things") is False
    assert sqlite.user_version(conn) == 0
    assert sqlite.migrate(conn, [V1]) == 1


def test_thread_local_connections_are_one_per_thread(tmp_path: Path) -> None:
    conns = sqlite.ThreadLocalConnections(tmp_path / "t.sqlite")
    main = conns.get()
    assert conns.get() is main
    seen: list[sqlite3.Connection] = []
    t = threading.Thread(target=lambda: seen.append(conns.get()))
    t.start()
    t.join()
    assert seen and seen[0] is not main
    conns.close()
    assert conns.get() is not main


# -- the stores on the layer: files written by prelabel 0.1 still open


def test_a_job_file_from_0_1_opens_with_its_items(tmp_path: Path) -> None:
    from prelabel.inference import job_store

    folder = tmp_path / "20260101-000000-abcdef"
    folder.mkdir()
    old = sqlite3.connect(folder / job_store.DB_NAME)
    old.executescript(job_store.MIGRATIONS[0])  # type: ignore[arg-type]
    frames = [Frame(id=f"f{i}", uri=f"/x/{i}.png", width=4, height=3) for i in range(3)]
    old.executemany(
        "INSERT INTO items (seq, frame_id, frame) VALUES (?, ?, ?)",
        [(i, f.id, f.model_dump_json(exclude_none=True)) for i, f in enumerate(frames)],
    )
    old.execute("INSERT INTO meta (key, value) VALUES ('status', 'ready')")
    old.commit()
    old.close()

    job = job_store.Job(folder)
    assert sqlite.user_version(job._db) == len(job_store.MIGRATIONS)
    assert job.status == "ready"
    assert [f.id for _, f in job.pending()] == ["f0", "f1", "f2"]
    assert job.complete([(0, FrameRecord(frame=frames[0]))]) == 1
    assert job.counts() == {"pending": 2, "done": 1, "failed": 0, "total": 3}
    job.close()


def test_a_portal_file_from_0_1_opens_with_its_users(tmp_path: Path) -> None:
    from prelabel.review import db

    old = sqlite3.connect(tmp_path / db.DB_NAME)
    old.executescript(db.MIGRATIONS[0])  # type: ignore[arg-type]
    old.execute("INSERT INTO users VALUES ('ada', 'admin', 'x', 1, '2026-01-01T00:00:00+00:00')")
    old.commit()
    old.close()

    database = db.Database(tmp_path)
    with database.connect() as conn:
        assert sqlite.user_version(conn) == len(db.MIGRATIONS)
        assert [r["name"] for r in conn.execute("SELECT name FROM users")] == ["ada"]
    with pytest.raises(sqlite3.IntegrityError), database.transaction() as conn:
        conn.execute("INSERT INTO users VALUES ('bob', 'worker', 'y', 1, '2026-01-01T00:00:00+00:00')")
        conn.execute("INSERT INTO users VALUES ('ada', 'worker', 'z', 1, '2026-01-01T00:00:00+00:00')")
    with database.connect() as conn:
        assert [r["name"] for r in conn.execute("SELECT name FROM users")] == ["ada"]


def test_a_writer_waits_for_another_in_short_steps_and_keeps_its_timeout(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    sqlite.connect(path).execute("CREATE TABLE t (x INTEGER)")
    locked = threading.Event()

    def other_writer(hold_s: float) -> None:  # another connection holds the write lock for a while
        conn = sqlite.connect(path)
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(hold_s)
        conn.execute("COMMIT")

    waiter = sqlite.connect(path, busy_timeout_s=5.0)
    holder = threading.Thread(target=other_writer, args=(0.1,))
    holder.start()
    locked.wait()
    with sqlite.transaction(waiter) as db:  # waits for the other writer's commit, then writes
        db.execute("INSERT INTO t VALUES (1)")
    holder.join()
    assert waiter.execute("PRAGMA busy_timeout").fetchone()[0] == 5000  # restored after the wait

    impatient = sqlite.connect(path, busy_timeout_s=0.2)
    locked.clear()
    holder = threading.Thread(target=other_writer, args=(1.0,))
    holder.start()
    locked.wait()
    with pytest.raises(sqlite3.OperationalError, match="locked"), sqlite.transaction(impatient):
        pass  # the same error as SQLite's own, once its timeout has passed
    holder.join()
    assert not impatient.in_transaction and impatient.execute("PRAGMA busy_timeout").fetchone()[0] == 200
    assert [r[0] for r in impatient.execute("SELECT x FROM t")] == [1]
