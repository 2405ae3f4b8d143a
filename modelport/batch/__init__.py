"""`modelport batch`: many models from one manifest, each job isolated, resumable, with CI reports.

manifest.py (the schema-checked YAML/TOML) -> run.py (the orchestration) -> resume.py (skip what
is unchanged) -> executors.py (local processes or Ray tasks) -> job.py (one job, in its own
process) -> results.py (the report's types) -> reports.py (terminal, JSON, JUnit, Markdown).
"""
