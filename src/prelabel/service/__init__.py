"""The asynchronous endpoint service: HTTP API, durable SQLite queue, worker processes, autoscaler, notifications.

Nothing here is imported by ``import prelabel``; the HTTP layer (FastAPI) is imported only by :mod:`.app`.
"""
