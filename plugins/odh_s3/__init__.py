"""odh-core plugin `s3`: the ODH-TEC S3 browser API (COMPAT.md §2), streaming both ways.

Publishes `app.service("s3.access")` for other plugins (see `odh_s3.access`).
"""
from .plugin import S3Plugin

__all__ = ["S3Plugin"]
