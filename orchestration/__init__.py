"""warecast orchestration: warehouse I/O, MLflow tracking and the Dagster asset graph."""
