"""Container health check: exit 0 when the URL answers 2xx within three seconds, else 1.

Installed in the image as ``ic-healthcheck`` (the slim base image has no curl). With no argument
it probes the gateway's liveness route on ``IC_PORT``; the compose file points the gateways at
``/readyz`` and the workers at their metrics port.
"""

import os
import sys
import urllib.request

DEFAULT_URL = f"http://127.0.0.1:{os.environ.get('IC_PORT', '8080')}/healthz"


def main() -> int:
    url = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_URL
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if 200 <= response.status < 300 else 1
    except OSError as exc:  # URLError and HTTPError (4xx/5xx) are OSErrors
        sys.stderr.write(f"{url}: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
