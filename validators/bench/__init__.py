"""`modelport bench`: the benchmark harness, in one place.

options.py (BenchOptions and its checks) -> measure.py (the orchestration: jobs, order, rounds)
-> worker_client.py (the parent's side of each worker) -> worker.py (one artifact at one batch size,
in its own process) using feed.py (the same inputs for every runtime) and timing.py; results.py
(the report's types), regression.py (a baseline), reports.py / plots.py (terminal, JSON, Markdown,
PNG), verdict.py (the exit code), machine.py (what the numbers were measured on).
"""
