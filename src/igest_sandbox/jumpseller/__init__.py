"""The Jumpseller API emulator (the OpenAPI spec): the app, its store, order factories, webhooks
and handlers."""
