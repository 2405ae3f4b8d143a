"""What `modelport doctor` shows about serving: Java (TorchServe's frontend), the TorchServe tools
and tensorflow-serving-api, each as (name, version or None, note)."""

from __future__ import annotations


def serving_doctor_rows() -> list[tuple[str, str | None, str]]:
    """(component, version or None when missing, a note for the user). Fast: one `java -version`."""
    from modelport.serving import tools

    rows: list[tuple[str, str | None, str]] = []
    java = tools.java()
    found = tools.java_version(java) if java else None
    if found is None:
        rows.append(("java", None, f"--for torchserve --serve-check needs it: {tools.JAVA_HINT}"))
    else:
        ok = found[0] >= 11
        rows.append(("java", str(found[0]), f"{found[1]} at {java}" + ("" if ok else f"; too old: {tools.JAVA_HINT}")))
    for dist, use in (("torchserve", "--serve-check (limited maintenance since 0.12.0; PyTorch's classic serving path)"),
                      ("torch-model-archiver", "package --for torchserve"),
                      ("tensorflow-serving-api", "the gRPC PredictRequest of --for tf-serving (optional)")):
        v = tools.package_version(dist)
        rows.append((dist, v, use if v else f"not installed: {use}; `make venv` installs it"))
    rows.append(("tf serving server", None, "none installable here (not on PyPI or in Debian); --for tf-serving is "
                                            "checked by loading the SavedModel as TF Serving does"))
    return rows
