"""The service's repository: every SQL statement of the service, over one SQLite file (WAL) in the state folder.

Models, endpoint configs, endpoints, worker instances, scaling events, the invocation queue and the webhook
outbox. The queue is durable: an accepted invocation is a row before the client hears 202. Workers *lease* rows
(``state='leased'``, ``lease_owner``, ``lease_expires``) and renew the lease while they work; a row whose worker
died (its lease released by the supervisor, or simply expired) is leased again. The final transition
(``leased -> completed|failed``) only succeeds for the current lease owner, so it happens once per invocation.
Rows are leased by priority first (synchronous invocations, priority 1, go before queued async ones), then
first-in first-out.

Webhook notices go through an *outbox*: the ``notices`` row is written in the same transaction as the
invocation's final transition, and the supervisor delivers it (at least once, retried with back-off, also after
a restart) until a 2xx marks it delivered or the attempts run out (``state='failed'``). Its key,
``<inference id>:<event>``, lets a receiver drop duplicates.

Connections (one per thread), migrations (on ``user_version``) and transactions (``BEGIN IMMEDIATE``, rolled back
on any error) come from :mod:`prelabel.sqlite`: one writer at a time, readers never blocked under WAL. Times are
UNIX seconds (float). The modules here split the repository by table; :class:`Store` is all of them.
"""

from __future__ import annotations

from prelabel.service.store.catalog import Catalog
from prelabel.service.store.instances import Instances
from prelabel.service.store.notices import Notices
from prelabel.service.store.queue import Queue
from prelabel.service.store.schema import (
    DB_NAME,
    LATENCY_BUCKETS,
    LIVE_INSTANCE_STATES,
    MIGRATIONS,
    PUBLIC_STATE,
    SCHEMA_V1,
    Lease,
    notice_key,
)

__all__ = [
    "DB_NAME",
    "LATENCY_BUCKETS",
    "LIVE_INSTANCE_STATES",
    "MIGRATIONS",
    "PUBLIC_STATE",
    "SCHEMA_V1",
    "Lease",
    "Store",
    "notice_key",
]


class Store(Catalog, Queue, Notices, Instances):
    """The repository: models, configs and endpoints (:class:`Catalog`), the invocation queue (:class:`Queue`),
    the webhook outbox (:class:`Notices`), instances, scaling events and metrics (:class:`Instances`)."""
