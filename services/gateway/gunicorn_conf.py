"""gunicorn settings for the gateway; ``causalmol gateway`` passes bind, workers and threads on its command line."""

worker_class = "gthread"
timeout = 60  # a POST may wait up to 30 s for its job
graceful_timeout = 20
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# gunicorn's control socket has one default path per user: several gateways on one host would collide on it.
control_socket_disable = True
