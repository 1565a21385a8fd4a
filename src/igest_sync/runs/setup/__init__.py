"""Setting up and looking after a shop: check (the service checks), status, and the webhooks
(hooks)."""
