"""One module per alert source, each reading its own format into ``gateway.alerts.Alert``.

``alertmanager`` and ``grafana`` (webhooks), ``cloudwatch`` (alarm state changes: EventBridge,
SNS, Lambda alarm action), ``guardduty`` (findings: EventBridge, get-findings), ``pagerduty``
(Events API v2) and ``generic`` (the commander's own format). ``eventbridge`` and ``sns`` read
the envelopes AWS delivers in; ``schema`` holds what the payload models share.
"""
