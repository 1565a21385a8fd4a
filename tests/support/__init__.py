"""Test helpers shared by every suite, imported one way: ``from tests.support.x import ...``.

``clock`` the one fake clock; ``cli`` the real CLI as a subprocess; ``sandbox_clients``
in-process clients of the sandbox's emulators (httpx's ``WSGITransport``, no socket) and the
limits the fast tests run it with; ``adapter_data`` the adapter tests' constants;
``openapi_subset`` the Jumpseller schemas; ``order_money`` an independent money-model check.
"""
