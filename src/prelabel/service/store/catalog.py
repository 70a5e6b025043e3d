"""Models, endpoint configs and endpoints: what the API creates, lists and deletes, and what workers and the
supervisor read about them."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from prelabel.service.store.base import StoreBase


class Catalog(StoreBase):
    # ---- models
    def add_model(self, name: str, model: str, kind: str, options: dict[str, Any]) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO models VALUES (?,?,?,?,?)", (name, model, kind, json.dumps(options), time.time()))

    def model(self, name: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM models WHERE name=?", name)

    def model_names(self) -> list[str]:
        return [str(r["name"]) for r in self.all("SELECT name FROM models ORDER BY name")]

    def endpoints_using_model(self, name: str) -> list[str]:
        rows = self.all(
            "SELECT e.name FROM endpoints e JOIN endpoint_configs c ON c.name=e.config_name WHERE c.model_name=?", name
        )
        return [str(r["name"]) for r in rows]

    def delete_model(self, name: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM models WHERE name=?", (name,))

    # ---- endpoint configs
    def add_config(self, row: dict[str, Any]) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO endpoint_configs VALUES (:name,:model_name,:max_concurrency,:output_path,:failure_path,"
                ":success_webhook,:error_webhook,:created_at)",
                {**row, "created_at": time.time()},
            )

    def config(self, name: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM endpoint_configs WHERE name=?", name)

    def config_names(self) -> list[str]:
        return [str(r["name"]) for r in self.all("SELECT name FROM endpoint_configs ORDER BY name")]

    def endpoints_using_config(self, name: str) -> list[str]:
        return [str(r["name"]) for r in self.all("SELECT name FROM endpoints WHERE config_name=?", name)]

    def delete_config(self, name: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM endpoint_configs WHERE name=?", (name,))

    def output_folders(self) -> list[str]:
        """Every output and failure folder of every config (where killed writes may have left temp files)."""
        rows = self.all("SELECT output_path, failure_path FROM endpoint_configs")
        return [str(p) for r in rows for p in (r["output_path"], r["failure_path"])]

    def config_model_ref(self, config_name: str) -> str | None:
        """The model reference an endpoint created from ``config_name`` would run."""
        row = self.one(
            "SELECT m.model FROM models m JOIN endpoint_configs c ON c.model_name=m.name WHERE c.name=?", config_name
        )
        return None if row is None else str(row["model"])

    # ---- endpoints
    def add_endpoint(self, name: str, config_name: str, policy: dict[str, Any], backend: str) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO endpoints(name,config_name,policy,backend,status,created_at) VALUES (?,?,?,?,?,?)",
                (name, config_name, json.dumps(policy), backend, "in_service", time.time()),
            )

    def endpoint(self, name: str) -> sqlite3.Row | None:
        """The endpoint's row with its config's ``model_name``."""
        return self.one(
            "SELECT e.*, c.model_name FROM endpoints e JOIN endpoint_configs c ON c.name=e.config_name WHERE e.name=?",
            name,
        )

    def endpoint_target(self, name: str) -> sqlite3.Row | None:
        """What queuing an invocation needs in one read: the endpoint's status, failure reason and backend, and its
        config's output and failure folders."""
        return self.one(
            "SELECT e.status, e.failure_reason, e.backend, c.output_path, c.failure_path FROM endpoints e "
            "JOIN endpoint_configs c ON c.name=e.config_name WHERE e.name=?",
            name,
        )

    def endpoint_names(self) -> list[str]:
        return [str(r["name"]) for r in self.all("SELECT name FROM endpoints ORDER BY name")]

    def endpoints(self) -> list[sqlite3.Row]:
        """Name, backend and policy of every endpoint, by name (for /metrics)."""
        return self.all("SELECT name, backend, policy FROM endpoints ORDER BY name")

    def endpoints_in_service(self, backend: str) -> list[str]:
        rows = self.all("SELECT name FROM endpoints WHERE status='in_service' AND backend=?", backend)
        return [str(r["name"]) for r in rows]

    def delete_endpoint(self, name: str) -> list[str]:
        """Delete the endpoint and cancel its queued invocations (running ones finish), in one transaction; the
        ids cancelled."""
        with self.tx() as db:
            ids = [str(r["id"]) for r in db.execute(
                "SELECT id FROM invocations WHERE endpoint=? AND state='queued'", (name,)
            )]  # fmt: skip
            db.execute(
                "UPDATE invocations SET state='cancelled', completed_at=?, error_type='EndpointDeleted', "
                "error='cancelled: the endpoint was deleted (force) before it ran' WHERE endpoint=? AND state='queued'",
                (time.time(), name),
            )
            db.execute("DELETE FROM endpoints WHERE name=?", (name,))
        return ids

    def mark_endpoint_failed(self, name: str, reason: str) -> None:
        with self.tx() as db:
            db.execute("UPDATE endpoints SET status='failed', failure_reason=? WHERE name=?", (reason, name))

    def error_webhooks(self) -> dict[str, str | None]:
        """Endpoint name -> its config's error webhook."""
        rows = self.all(
            "SELECT e.name, c.error_webhook FROM endpoints e JOIN endpoint_configs c ON c.name=e.config_name"
        )
        return {str(r["name"]): r["error_webhook"] for r in rows}

    def failure_reasons(self) -> dict[str, str | None]:
        """Endpoint name -> why it failed (None while in service)."""
        return {str(r["name"]): r["failure_reason"] for r in self.all("SELECT name, failure_reason FROM endpoints")}

    def scaling_state(self, name: str) -> tuple[dict[str, Any], float, float] | None:
        """(scaling policy, last scale-out time, last scale-in time) of an endpoint."""
        row = self.one("SELECT policy, last_scale_out, last_scale_in FROM endpoints WHERE name=?", name)
        if row is None:
            return None
        return json.loads(row["policy"]), float(row["last_scale_out"]), float(row["last_scale_in"])

    def endpoint_spec(self, endpoint: str) -> dict[str, Any] | None:
        """Everything a worker needs: model reference and options, concurrency, webhooks, policy."""
        row = self.one(
            "SELECT e.name, e.policy, e.backend, e.status, c.max_concurrency, c.success_webhook, c.error_webhook, "
            "c.output_path, c.failure_path, m.name AS model_name, m.model, m.kind, m.options "
            "FROM endpoints e JOIN endpoint_configs c ON c.name = e.config_name "
            "JOIN models m ON m.name = c.model_name WHERE e.name = ?",
            endpoint,
        )
        if row is None:
            return None
        spec = dict(row)
        spec["policy"] = json.loads(spec["policy"])
        spec["options"] = json.loads(spec["options"])
        return spec
