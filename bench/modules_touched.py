"""How many of the client's modules one paid order touches on its way through ``invoice``.

Issue "house" counted 42 (target: at most 25). A module counts when any of its code runs (one of
its functions or methods is called, on any thread; running its body at import, and what that
body calls, does not count) while ``igest-sync invoice`` issues one paid order against the
sandbox in this process; the sandbox's own modules do not count.

It also counts, apart, the modules of the order's own path: those that run beneath
``InvoiceRun.issue_one`` (the exactly-once issue, its look-ups, the mapping, the ledger, the
link-back), the part a change to how an order becomes a document has to read. The rest of the
command is the run's set-up and its once-per-run chores (configuration, logging, discovery's
listing, the sweeps of drafts and cancellations, the daily checks), met by any run, with or
without an order. Run:

    .venv/bin/python bench/modules_touched.py [--list]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

CLIENT = "igest_sync"
NOT_THE_CLIENT = ("igest_sandbox/",)


# The order's own path: what runs while a frame of this function is on the stack.
ORDER_PATH = ("runs/invoicing/invoice.py", "issue_one")


def touched_by_one_order() -> tuple[list[str], list[str]]:
    """The modules the command touched, and those its order's own path touched."""
    from igest_sandbox import Sandbox
    from igest_sync.cli import app
    from igest_sync.cli.session import run_app
    from igest_sync.config import write_config
    from igest_sync.demo import demo_config

    with Sandbox(seed=False).start() as sb, tempfile.TemporaryDirectory() as home:
        sb.store.add_order(
            lines=[{"sku": "CAN-AZU", "name": "Caneca", "price": "9.99", "qty": 1, "rate": 23}],
            status="paid",
        )
        config = Path(home) / "config.toml"
        values: dict[str, Any] = demo_config(sb.credentials)
        write_config(config, values, overwrite=True)
        os.environ["IGEST_SYNC_HOME"] = home
        seen: set[str] = set()
        on_path: set[str] = set()

        def profile(frame: FrameType, event: str, arg: object) -> None:
            name = frame.f_code.co_filename.replace("\\", "/")
            if f"/{CLIENT}/" not in name or any(part in name for part in NOT_THE_CLIENT):
                return
            module = name.split(f"/{CLIENT}/", 1)[1]
            if module in on_path or _importing(frame):
                return
            seen.add(module)
            if _on_the_orders_path(frame):
                on_path.add(module)

        # The orders are issued on worker threads: they must be watched too.
        threading.setprofile(profile)
        sys.setprofile(profile)
        try:
            code = run_app(app, ["--config", str(config), "invoice"])
        finally:
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]
        issued = len(sb.igest.final_documents_by_reference())
        if code != 0 or issued != 1:
            raise SystemExit(f"the run did not issue the order (exit {code}, {issued} issued)")
        return sorted(seen), sorted(on_path)


def _on_the_orders_path(frame: FrameType | None) -> bool:
    file, function = ORDER_PATH
    while frame is not None:
        code = frame.f_code
        if code.co_name == function and code.co_filename.replace("\\", "/").endswith(file):
            return True
        frame = frame.f_back
    return False


def _importing(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs on behalf of an import: some frame below it runs a module's
    body (a class's body, a decorator, or a table a module builds as it loads)."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "<module>" and f"/{CLIENT}/" in code.co_filename.replace("\\", "/"):
            return True
        frame = frame.f_back
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the modules")
    args = parser.parse_args()
    modules, path = touched_by_one_order()
    if args.list:
        print("\n".join(f"{'*' if m in path else ' '} {m}" for m in modules))
        print("(* on the order's own path)")
    print(f"{len(modules)} modules of igest_sync touched by one paid order through `invoice`")
    print(f"{len(path)} of them on the order's own path (beneath InvoiceRun.issue_one)")


if __name__ == "__main__":
    main()
