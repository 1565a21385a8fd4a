"""Test helpers shared by every suite, imported one way: ``from tests.support.x import ...``.

``clock`` the fake clocks (``VirtualClock`` for a whole run: pacing, the sandbox's limiters);
``cli`` the real CLI, in-process (``inprocess``) or as a process (``forked``); ``sandbox_clients``
in-process clients of the sandbox's emulators (httpx's ``WSGITransport``, no socket) and the
limits the fast tests run it with; ``adapter_data`` the adapter tests' constants;
``openapi_subset`` the Jumpseller schemas; ``order_money`` an independent money-model check.
"""
