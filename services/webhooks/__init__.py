"""Webhook delivery: a job's ``job.succeeded`` / ``job.failed`` callback, signed and retried with backoff."""
