"""Run benchmarks by name (default: every module in bench/), passing options after `--`."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import time

import bench


def discover() -> list[str]:
    """Names of the benchmark modules in this package, sorted."""
    return sorted(
        module.name
        for module in pkgutil.iter_modules(bench.__path__)
        if not module.ispkg and not module.name.startswith("_")
    )


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in args:
        split = args.index("--")
        args, extra = args[:split], args[split + 1 :]
    available = discover()
    if args in (["-h"], ["--help"], ["--list"]):
        print(f"usage: python -m bench [names...] [-- options]\nbenchmarks: {' '.join(available)}")
        return 0
    names = args or available
    unknown = [name for name in names if name not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {' '.join(available)}")
        return 2
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"=== bench.{name} ===", flush=True)
        started = time.perf_counter()
        if inspect.signature(module.main).parameters:
            module.main(extra)
        else:
            module.main()
        print(f"=== bench.{name}: {time.perf_counter() - started:.1f} s ===\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
