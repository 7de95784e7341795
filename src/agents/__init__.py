"""Specialised incident agents: detection, diagnosis, remediation, FinOps and security."""
