"""``igest-sync serve``: webhooks received, recorded and worked in seconds, with a sweep.

``receiver`` is the WSGI application (authenticate, record a hint, answer); ``worker`` is one
thread per store that works the hints and runs the sweep under the run lock; ``server`` runs
them in one process behind waitress and stops them cleanly. Nothing here prints: the command
line (``cli/serve.py``, ``render/serve.py``) renders what a person must see.
"""
