"""The repository's connection handling: one connection per thread (WAL), migrations on open, transactions."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prelabel import sqlite as sqlite_layer
from prelabel.service.store.schema import DB_NAME, MIGRATIONS


class StoreBase:
    def __init__(self, state_dir: str | Path) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.state_dir / DB_NAME
        self._conns = sqlite_layer.ThreadLocalConnections(self.path, synchronous="NORMAL")
        self._write_lock = threading.Lock()
        sqlite_layer.migrate(self.db, MIGRATIONS, path=str(self.path))

    @property
    def db(self) -> sqlite3.Connection:
        return self._conns.get()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on any error). The threads of one process take turns
        on a lock first: a thread waiting for another thread's commit is woken when it ends, rather than polling
        SQLite's write lock (the worker's slots and the server's event loop, supervisor and outbox all write)."""
        with self._write_lock, sqlite_layer.transaction(self.db) as db:
            yield db

    def close(self) -> None:
        self._conns.close()

    def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(sql, args).fetchone()
        return row

    def all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return list(self.db.execute(sql, args).fetchall())
