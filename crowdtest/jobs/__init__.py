"""Background jobs: one row per long action (preparation, clustering, training), with
progress the UI polls and the Celery task that carries it out."""
