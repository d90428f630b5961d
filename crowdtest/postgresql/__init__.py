"""Django's PostgreSQL backend with a cheaper health check of pooled connections
(`ENGINE = "crowdtest.postgresql"`, set by the settings when the pool is on)."""
