"""The Python leg of the bench's `languages` phase: the same audited read by
id as the Rust and C legs, through the Python binding. Prints one JSON line
with the time of each call (ns).

    python3 bench_read.py STORE_DIR KEY_HEX PRINCIPAL IDS_FILE
"""

from __future__ import annotations

import json
import sys
import time

import custodian


def main() -> int:
    store_dir, key_hex, principal, ids_file = sys.argv[1:5]
    ids = [int(line) for line in open(ids_file, encoding="ascii") if line.strip()]
    with custodian.Store.open(store_dir, bytes.fromhex(key_hex)) as store:
        with store.session(principal, "service", mfa=True) as session:
            for i in ids[: min(len(ids), 200)]:
                session.get(i)  # warm up
            samples = []
            for i in ids:
                start = time.perf_counter_ns()
                session.get(i)
                samples.append(time.perf_counter_ns() - start)
    print(json.dumps({"samples_ns": samples}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
