"""The commander's shared stores in PostgreSQL, for several gateway and worker processes.

Same interfaces as the single-process SQLite stores (``orchestrator.ledger``,
``services.audit``) and the in-memory incident list (``orchestrator.store``); ``pool`` opens
the connections they share. Table names start with ``ic_``.
"""
