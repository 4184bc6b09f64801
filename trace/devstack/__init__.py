"""What ``scripts/stack`` starts on one machine: a throwaway PostgreSQL cluster (pg), a local EVM node
(nodes), cradletrace's own long-running commands as processes (processes) and the whole production
shape put together (stack). Development tooling, run from a checkout; the tests and benchmarks use it too.
Nothing in the product imports it."""

__all__ = ["nodes", "pg", "processes", "stack"]
