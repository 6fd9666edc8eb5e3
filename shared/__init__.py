"""Code that several causalmol services share: config, Celery app, job store, model store, errors."""
