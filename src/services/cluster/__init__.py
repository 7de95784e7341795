"""Scale-out on Redis: the alert stream from gateways to workers (``stream``), the estate
lease and per-resource action locks (``locks``), and the audit trail's doorbell that tells
every gateway's event stream there is more to read (``doorbell``).

Selected by ``IC_REDIS_URL`` together with ``IC_POSTGRES_URL``; the embedded single-process
default uses none of it.
"""
