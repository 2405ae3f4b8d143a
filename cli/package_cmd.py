"""`modelport package MODEL... --for torchserve|tf-serving`: what a model server loads, checked."""

from __future__ import annotations

import click

from modelport.cli.render import console

TARGETS = ("torchserve", "tf-serving")


@click.command("package")
@click.argument("models", nargs=-1, required=True)
@click.option("--for", "target", type=click.Choice(TARGETS), required=True,
              help="torchserve: a .mar per model (TorchScript/ExportedProgram); tf-serving: the versioned folder "
                   "with models.config and request bodies (SavedModel).")
@click.option("-o", "--output", metavar="DIR",
              help="torchserve: the model store the .mar files go into (default: model-store); "
                   "tf-serving: the package folder (default: tf-serving).")
@click.option("--name", help="The served model's name (one MODEL only; default: the file's name).")
@click.option("--force", is_flag=True, help="Overwrite archives of the same names / a previous tf-serving package.")
@click.option("--serve-check", is_flag=True,
              help="torchserve: start TorchServe (confined, 127.0.0.1), send the validation inputs over HTTP, "
                   "compare the answers with the source, stop it.")
@click.option("--port", type=int, help="--serve-check: TorchServe's inference port (default: a free one; "
                                       "a port in use is refused, exit 2).")
@click.option("--archive-version", "version", default="1.0", show_default=True, help="torchserve: the archive's version.")
@click.option("--base-path", default="/models", show_default=True,
              help="tf-serving: the folder models.config places the models under (TF Serving's Docker image: /models).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated validation inputs.")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME:D1,D2,...",
              help="Shape of an input (TorchScript declares none). Repeatable; with several MODELs each takes its own.")
@click.option("--input-dtype", "input_dtypes", multiple=True, metavar="NAME:DTYPE", help="Input dtype. Repeatable.")
@click.option("--value-range", "value_ranges", multiple=True, metavar="NAME:LO,HI", help="Range of generated values. Repeatable.")
@click.option("--inputs", "inputs_path", type=click.Path(), help="Real inputs: FILE.npz or a folder of NAME.npy.")
@click.option("--atol", multiple=True, metavar="[OUTPUT:]ATOL", help="Absolute tolerance of the checks. Repeatable.")
@click.option("--rtol", multiple=True, metavar="[OUTPUT:]RTOL", help="Relative tolerance of the checks. Repeatable.")
def command(models, target, output, name, force, serve_check, port, version, base_path, seed, input_shapes, input_dtypes,
            value_ranges, inputs_path, atol, rtol):
    """Package MODEL(s) for a model server, and check the package answers like the source.

    \b
    --for torchserve: TorchScript (.pt) or ExportedProgram (.pt2) files -> OUT/NAME.mar each,
      with modelport's JSON handler, the I/O map and the manifest inside. --serve-check serves
      them with TorchServe 0.12.0 (limited maintenance: PyTorch's classic serving path).
      Request: {"inputs": {"NAME": {"shape": [...], "dtype": "float32", "data": [...]}}}.
    --for tf-serving: SavedModel folders -> OUT/NAME/1/, OUT/models.config, OUT/NAME/request.json
      (REST) and OUT/NAME/predict_request.json (gRPC); always checked by loading the copy as TF
      Serving does (no TF Serving server runs here).
    Exit codes: 0 ok, 1 answers differ from the source, 2 bad input (not a model of the kind the
    target takes, a port in use), 3 a tool or the server failed, 4 a tool (Java, torchserve) missing.

    \b
    Examples:
      modelport package cnn.pt --for torchserve --input-shape image:1,3,32,32 --serve-check
      modelport package cnn.pt2 two_io.pt2 --for torchserve -o model-store --serve-check --port 8080
      modelport package cnn_savedmodel --for tf-serving -o serving --name cnn
    """
    from modelport.serving.common import PackageOptions
    from modelport.serving.reference import InputOptions

    opts = PackageOptions(output=output, name=name, force=force, serve_check=serve_check, port=port, version=version,
                          base_path=base_path,
                          inputs=InputOptions(seed=seed, input_shapes=input_shapes, input_dtypes=input_dtypes,
                                              value_ranges=value_ranges, inputs=inputs_path, atol=atol, rtol=rtol))
    from modelport.errors import ParityError

    if target == "torchserve":
        from modelport.serving.torchserve_package import package
    else:
        from modelport.serving.tfserving_package import package
    try:
        result = package(list(models), opts)
    except ParityError as e:
        if e.result is not None:
            _render(target, e.result)
        raise
    _render(target, result)


def _render(target: str, result) -> None:
    from modelport.validators import reports

    out = console()
    if result.report is not None:
        reports.render_terminal(result.report, out)
    if target == "torchserve":
        for a in result.archives:
            out.print(f"wrote {a.path} ({a.name}, {a.flavor}; torch-model-archiver {a.seconds:.2f} s)")
        if result.serve:
            out.print(f"serve-check: TorchServe ready in {result.serve['ready_seconds']:.1f} s, "
                      f"{result.serve['total_seconds']:.1f} s from start to stop")
    else:
        out.print(f"wrote {result.folder}/models.config and, per model, NAME/1/ (SavedModel), request.json, "
                  "predict_request.json: " + ", ".join(s.name for s in result.models))
    out.print(f"done in {result.seconds:.1f} s")
