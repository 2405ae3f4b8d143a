"""Validate the artifacts of a conversion in a process of its own (`modelport convert` calls it).

Runtimes crash and load large libraries; like the conversion edges (modelport/worker.py), the
validation step runs isolated, with its log captured, and reports back as JSON.
"""

from __future__ import annotations

import json
import sys
import traceback


def main(job_path: str, result_path: str) -> int:
    from modelport.quiet import block_network, quiet_python_loggers

    block_network()
    quiet_python_loggers()
    from modelport.errors import ModelportError
    from modelport.types import IOMap
    from modelport.validation import ValidateOptions, validate

    result: dict = {}
    try:
        with open(job_path) as f:
            job = json.load(f)
        opts = ValidateOptions(**{k: tuple(v) if isinstance(v, list) else v
                                  for k, v in job["options"].items() if k != "io_maps"})
        opts.io_maps = {p: IOMap.from_dict(m) for p, m in job["options"].get("io_maps", {}).items()}
        result["report"] = validate(job["reference"], job["candidates"], opts).to_dict()
    except ModelportError as e:
        result["error"] = {"kind": type(e).__name__, "message": e.message}
    except BaseException as e:
        traceback.print_exc()
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        result["error"] = {"kind": "ConversionError", "message": f"validation crashed: {type(e).__name__}: {first[:300]}"}
    with open(result_path, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
