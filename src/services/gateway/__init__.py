"""The gateway: the commander's HTTP face.

``ingest.parse`` turns an alert delivery from any supported source into the one alert model of
``alerts`` (each source's format is read by a module of ``sources``).
"""
