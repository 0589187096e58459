"""Jobs over HTTP: the job resource, the dead-letter list and retry, `Idempotency-Key`."""
