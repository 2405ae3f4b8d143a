"""One module per conversion edge, each with `convert(job: EdgeJob) -> EdgeResult`.

Edges run inside worker subprocesses (modelport/pipeline/edge_worker.py), so they may import heavy libraries at
module level, crash, or call sys.exit without taking modelport down.
"""
