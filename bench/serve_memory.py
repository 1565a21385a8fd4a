"""Memory of one `igest-sync serve` process serving many stores (issue 19: 20 stores < 150 MB).

Starts one sandbox per store (serve refuses two homes of one Jumpseller store: they would
invoice its orders twice), writes N store homes (each its own config, state, logs, hook path
and hooks token), runs `serve --homes`, sends each store a few signed webhooks, waits until they are invoiced,
and reads the process's resident memory (VmRSS, VmHWM: Linux's /proc) after the work.

    .venv/bin/python bench/serve_memory.py                # 20 stores, 5 webhooks each
    .venv/bin/python bench/serve_memory.py --stores 5 --orders 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from igest_sandbox import start_sandbox
from tests.support.cli import make_cli
from tests.support.sandbox_clients import FAST_LIMITS
from tests.support.webhooks import (
    add_order,
    delivery,
    free_port,
    one_final_per_order,
    start_serve,
)


def memory_mb(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--orders", type=int, default=5, help="webhooks per store")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        sandboxes = [
            stack.enter_context(start_sandbox(seed=False, **FAST_LIMITS))
            for _ in range(args.stores)
        ]
        port = free_port()
        homes = Path(tmp) / "stores"
        first = None
        for i, sb in enumerate(sandboxes):
            home = homes / f"store{i:02d}"
            home.mkdir(parents=True)
            cli = make_cli(
                sb,
                home,
                jumpseller={"hooks_token": f"token-{i}", "store": f"shop{i:02d}"},
                serve={"port": port, "public_url": f"http://127.0.0.1:{port}/hooks/{i}"},
            )
            first = first or cli
        assert first is not None
        served = start_serve(first, port, "--homes", str(homes))
        try:
            idle = memory_mb(served.proc.pid)
            sent = 0
            for i, sb in enumerate(sandboxes):
                login = sb.credentials["jumpseller"]["login"]
                for _ in range(args.orders):
                    order = add_order(sb)
                    body, headers = delivery(order, login, token=f"token-{i}")
                    url = f"{served.base_url}/hooks/{i}"
                    assert httpx.post(url, content=body, headers=headers).status_code == 202
                    sent += 1
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                if sum(sum(one_final_per_order(sb).values()) for sb in sandboxes) >= sent:
                    break
                time.sleep(0.5)
            worked = memory_mb(served.proc.pid)
        finally:
            served.stop()
    print(f"stores: {args.stores}, webhooks: {sent}")
    print(f"after start-up: RSS {idle['VmRSS']:.1f} MB")
    print(f"after the work: RSS {worked['VmRSS']:.1f} MB, peak {worked['VmHWM']:.1f} MB")
    ok = worked["VmHWM"] < 150
    print(f"target peak < 150 MB: {'ok' if ok else 'MISS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
