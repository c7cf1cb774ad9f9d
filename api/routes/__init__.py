"""One router per resource; the app factory mounts each under ``/api/v1``."""
