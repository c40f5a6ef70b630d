"""HER2 CDS Hooks 2.0 service for colorectal and gastric/GEJ cancer."""
from .app import create_app

__all__ = ["create_app"]
