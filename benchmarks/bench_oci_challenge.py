"""How long parsing a registry's `WWW-Authenticate` header takes (issue 22), side by side with
the regex ptmlock used before (`finditer` over the rest of the header: quadratic in its length,
so `Basic ` followed by 60,000 letters took minutes).

Usage: python benchmarks/bench_oci_challenge.py
"""
from __future__ import annotations

import re
import time

from ptmlock.oci.auth import parse_challenge

_OLD = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def _old(header: str) -> None:
    _, _, rest = header.strip().partition(" ")
    list(_OLD.finditer(rest))


def _time(fn: object, header: str) -> float:
    start = time.perf_counter()
    fn(header)  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    print(f"{'header':<40} {'before (regex)':>16} {'now':>12}")
    for n in (3_000, 6_000, 12_000, 60_000):
        header = "Basic " + "a" * n
        before = f"{_time(_old, header):.3f}s" if n <= 12_000 else "(minutes)"
        print(f"{f'Basic + {n:,} letters':<40} {before:>16} {_time(parse_challenge, header) * 1e3:>10.3f}ms")
    for name, header in (("Bearer realm,service,scope (real)",
                          'Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"'),
                         ("Bearer + 4,000 commas", 'Bearer realm="x",' + "a," * 3_990)):
        print(f"{name:<40} {_time(_old, header) * 1e3:>14.3f}ms {_time(parse_challenge, header) * 1e3:>10.3f}ms")


if __name__ == "__main__":
    main()
