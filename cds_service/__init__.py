"""HER2 CDS Hooks 2.0 service for colorectal and gastric/GEJ cancer.

The app factory is `cds_service.app.create_app`; the command line is `cds_service.cli`.
(Nothing is imported here, so `her2-cds serve` can prepare the environment before the app loads.)
"""
