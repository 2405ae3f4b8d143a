"""Plumbing for isolated worker processes: every library that loads or runs a model runs in one.

Converters crash (SIGABRT), call sys.exit and print pages of logs; runtimes crash and hold
memory; a model file is untrusted code. So the parent never imports torch or TensorFlow to do
the work: it starts a worker, and a worker's death is one line and an exit code, never a
traceback. This package holds what every worker shares, and nothing that knows a format:

- spawn.py: start `python -m MODULE JOB RESULT` with its log captured, read its JSON result;
- shell.py: the worker's side (offline, quiet loggers, errors as {kind, message});
- environment.py: the quiet, offline environment a worker starts with;
- offline.py: the socket guard every worker installs;
- exits.py: how a worker ended, in words (signals, the out-of-memory killer);
- import_order.py: torch's compiler stack before TensorFlow in a process that runs both.

The workers themselves live beside what they run: modelport/pipeline/edge_worker.py (one
conversion edge and its smoke run), validators/validate_worker.py (a route's validation),
validators/bench/worker.py (one artifact at one batch size, a line protocol) and
modelport/batch/job.py (one batch job, in its own process group).
"""
