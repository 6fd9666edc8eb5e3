"""The audit trail: append-only records of who did what, in the service's database."""
