"""The Dockerfile, manifests and production components (PostgreSQL, S3, Celery)."""
