"""Masking of secrets and personal data before any text leaves the process for a model.

Each rule replaces a match with a fixed placeholder naming what was there (``[aws-key]``,
``[email]`` ...), so the model still reads a coherent sentence but learns nothing it should not.
Rules run in order: the most specific patterns (API keys, bearer tokens) before the generic
"long secret-looking string" one, which would otherwise swallow them whole.
"""

from __future__ import annotations

import re

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # The commander's own API keys: ic_<16 hex>_<43 url-safe base64>.
    (re.compile(r"\bic_[0-9a-f]{16}_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])"), "[ic-api-key]"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), "Bearer [token]"),
    # AWS access key ids: long-term (AKIA) and temporary (ASIA).
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "[aws-key]"),
    # key=value / key: value where the key says it is a secret.
    (
        re.compile(
            r"(?i)\b((?:aws_)?(?:secret(?:_access)?_key|password|passwd|pwd|secret|token|"
            r"api[_-]?key|session_token|private[_-]?key)\b\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"
        ),
        r"\1[secret]",
    ),
    (re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), "[email]"),
    (
        re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"),
        "[ip]",
    ),
    (
        re.compile(r"(?i)(?<![\w:])(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}(?![\w:])|"
                   r"(?<![\w:])(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?"
                   r"(?![\w:])"),
        "[ip]",
    ),
    # Secret-looking strings: 32+ characters of base64 / hex with both letters and digits
    # (an AWS secret access key is 40). Plain words and resource names do not match.
    (
        re.compile(r"(?<![A-Za-z0-9/+=_-])(?=[A-Za-z0-9/+=_-]*\d)(?=[A-Za-z0-9/+=_-]*[A-Za-z])"
                   r"[A-Za-z0-9/+=_-]{32,}(?![A-Za-z0-9/+=_-])"),
        "[secret]",
    ),
)  # fmt: skip


def mask(text: str) -> str:
    """``text`` with every secret or piece of personal data replaced by a placeholder."""
    for pattern, placeholder in _RULES:
        text = pattern.sub(placeholder, text)
    return text
