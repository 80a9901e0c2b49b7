"""Store functions for the fleet's domain: they take a Session and keyword arguments, change or
read rows, raise `fleet.core.errors` errors, and know nothing of HTTP or CoAP."""
