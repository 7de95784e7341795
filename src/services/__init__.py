"""Adapters and shells: settings, the AWS port, the scenario format, the simulator, the CLI."""
