"""Benchmarks: `python -m bench [names...] [-- options]` runs `bench/<name>.py:main()`.

A benchmark is a module here with `main(argv: list[str] | None = None)`; options after `--`
go to every benchmark run. Figures are printed; the lead engineer copies them into
docs/benchmarks.md with the machine they came from.
"""
