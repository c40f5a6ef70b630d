"""The app factory's historical home: `cds_service.app.create_app` (see `cds_service.web`)."""
from .web import create_app

__all__ = ["create_app"]
