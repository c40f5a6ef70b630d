"""The web layer (Flask): app factory, blueprints for hooks, feedback and operations. No clinical logic."""
from __future__ import annotations

from flask import Flask
from flask_cors import CORS

from ..logging_setup import configure_logging
from ..settings import Settings
from ..startup import preflight
from . import feedback, hooks, operations, responses
from .extension import her2cds

# The CDS Hooks sandbox runs in a browser: discovery, service and feedback URLs are open to any origin.
cors = CORS(resources={r"/cds-services*": {"origins": "*"}, r"/healthz": {"origins": "*"}},
            allow_headers=["Authorization", "Content-Type"], methods=["GET", "POST", "OPTIONS"], max_age=600)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the service. Refuses an unsafe configuration; loads and validates the knowledge once."""
    settings = settings or Settings.from_env()
    preflight(settings)
    configure_logging(settings.log_level)
    app = Flask("cds_service", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    cors.init_app(app)
    her2cds.init_app(app, settings)
    responses.init_app(app)
    for blueprint in (hooks.bp, feedback.bp, operations.bp):
        app.register_blueprint(blueprint)
    return app
