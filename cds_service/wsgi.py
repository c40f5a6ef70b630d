"""WSGI entry point for external servers: `gunicorn cds_service.wsgi:app`."""
from .app import create_app

app = create_app()
