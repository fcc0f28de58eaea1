"""Incremental sync from helpdesk APIs (issue 7): connectors, jobs, locks, limits, outbox.

The pieces, one module each:

* :mod:`.config` — settings from ``DESKPULSE_*`` environment variables (secrets as SecretStr);
* :mod:`.clock` — the injectable time source every time-dependent piece takes;
* :mod:`.retry` — exponential backoff with jitter written with asyncio;
* :mod:`.breaker` — the circuit breaker (seed 004 Task 11), pure and stored in the database;
* :mod:`.ratelimit` — the global outbound sliding-window limit shared through the store;
* :mod:`.lock` — the per-tenant ingest lock (atomic INSERT … ON CONFLICT with expiry);
* :mod:`.connectors` — simulator, Zendesk Incremental Export and Intercom behind one interface;
* :mod:`.classify` — rule-based urgency / sentiment / requires_action from a YAML file;
* :mod:`.reclassify` — the same rules over tickets a file import wrote (``deskpulse import``);
* :mod:`.apply` — set-based change detection, field history, soft deletes, outbox rows;
* :mod:`.jobs` — job lifecycle: start (lock + audit row), pages, heartbeat, cancel, finish;
* :mod:`.outbox` — the background notification sender behind the breaker;
* :mod:`.service` — everything wired together for the HTTP app and the CLI;
* :mod:`.health` — the /health hook.
"""
