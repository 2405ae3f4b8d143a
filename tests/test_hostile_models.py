"""Hostile model files: zip entries that escape their folder, symbolic links and zip bombs are
refused (exit 2) from the central directory alone, before torch or Keras opens the file, by every
command; a declared input too large to allocate is an error, not a frozen machine."""

from __future__ import annotations

import struct
import zipfile

import pytest

from conftest import FIXTURES, assert_one_line_error, run_cli

CNN = f"{FIXTURES / 'models.py'}:cnn"
MARKERS = {  # what makes modelport's format detection take a zip for each format
    "pt2": ["archive/models/model.json", "archive/serialized_exported_program.json"],
    "keras": ["config.json", "model.weights.h5"],
    "pt": ["archive/data.pkl", "archive/constants.pkl", "archive/code/__torch__.py"],
}


def _archive(path, kind: str, extra: list[tuple[str, bytes]] = (), symlink: str | None = None):
    with zipfile.ZipFile(path, "w") as z:
        for name in MARKERS[kind]:
            z.writestr(name, b"{}")
        for name, data in extra:
            z.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)  # S_IFLNK
            z.writestr(info, "/etc/passwd")
    return path


def _declare_size(path, member: str, size: int) -> None:
    """Rewrite a member's uncompressed size in the central directory: a bomb as a reader sees it."""
    data = bytearray(open(path, "rb").read())
    start = data.rfind(b"PK\x01\x02", 0)
    while start != -1:
        name_len = struct.unpack_from("<H", data, start + 28)[0]
        if data[start + 46:start + 46 + name_len].decode() == member:
            struct.pack_into("<I", data, start + 24, size)
            break
        start = data.rfind(b"PK\x01\x02", 0, start)
    open(path, "wb").write(bytes(data))


@pytest.mark.parametrize("kind", ["pt2", "keras", "pt"])
@pytest.mark.parametrize("entry", ["../../escaped.txt", "/etc/cron.d/evil", "archive/../../up.txt"])
def test_an_entry_outside_the_archive_is_refused(tmp_path, kind, entry):
    evil = _archive(tmp_path / f"evil.{kind}", kind, [(entry, b"x")])
    for args in (("inspect", evil), ("validate", evil, evil)):
        assert_one_line_error(run_cli(*args), 2, "points outside the archive")


def test_a_symbolic_link_entry_is_refused(tmp_path):
    evil = _archive(tmp_path / "link.pt2", "pt2", symlink="archive/data/0")
    assert_one_line_error(run_cli("inspect", evil), 2, "is a symbolic link")


def test_a_zip_bomb_is_refused_without_inflating_it(tmp_path):
    evil = _archive(tmp_path / "bomb.pt2", "pt2", [("archive/data/0", b"\0" * 1000)])
    _declare_size(evil, "archive/data/0", 0xFFFFFF00)  # 4 GiB declared, 1000 zero bytes stored
    assert_one_line_error(run_cli("validate", evil, evil), 2, "zip bomb")


def test_weights_with_an_escaping_entry_are_refused_before_torch_reads_them(tmp_path):
    import torch

    from fixtures.models import cnn

    weights = tmp_path / "weights.pt"
    torch.save(cnn().state_dict(), weights)
    with zipfile.ZipFile(weights, "a") as z:
        z.writestr("../../outside.txt", b"x")
    r = run_cli("convert", CNN, "--to", "onnx", "--weights", weights, "-o", tmp_path / "cnn.onnx",
                "--input-shape", "image:1,3,32,32")
    assert_one_line_error(r, 2, "points outside the archive")
    assert not (tmp_path / "cnn.onnx").exists()


def test_an_honest_archive_still_loads(tmp_path):
    """The checks read sizes and names only: a real ExportedProgram passes them and converts."""
    out = tmp_path / "cnn.pt2"
    r = run_cli("convert", FIXTURES / "onnx" / "cnn.onnx", "--to", "pytorch", "-o", out, "--no-validate")
    assert r.code == 0, r.stderr
    r = run_cli("inspect", out)
    assert r.code == 0, r.stderr


def test_a_declared_input_of_terabytes_is_an_error_not_an_allocation(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "huge",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 100000, 100000, 100])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 100000, 100000, 100])])
    model = tmp_path / "huge.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), model)
    assert_one_line_error(run_cli("validate", model, model), 2, "would need 3.73e+03 GiB", "--input-shape x:")
    assert_one_line_error(run_cli("convert", model, "--to", "tflite", "-o", tmp_path / "huge.tflite"), 2,
                          "would need")
    assert not (tmp_path / "huge.tflite").exists()


def _memory_hog(path, gigabytes: float = 3.0):
    """An ONNX model that fills a tensor of `gigabytes` at run time (ConstantOfShape): small on
    disk, honest in its declared shapes, and still a model that takes the machine's memory."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    count = int(gigabytes * 2**30 / 4)
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["big"],
                              value=helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])),
             helper.make_node("ReduceSum", ["big"], ["total"], keepdims=1),
             helper.make_node("Add", ["x", "total"], ["y"])]
    graph = helper.make_graph(nodes, "hog", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
                              [numpy_helper.from_array(np.array([count], dtype=np.int64), "shape")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


def test_a_model_past_max_memory_is_stopped_with_exit_3(tmp_path):
    """validate's and bench's workers are watched: the model's 3 GB tensor ends at 512M with one line."""
    hog = _memory_hog(tmp_path / "hog.onnx")
    assert_one_line_error(run_cli("--max-memory", "512M", "validate", hog, hog), 3,
                          "the validation process used more than 512 MiB of memory and was stopped")
    r = run_cli("--max-memory", "512M", "bench", hog, "--runs", "2", "--warmup", "1")
    assert r.code == 3, (r.code, r.stderr)
    assert "the benchmark process used more than 512 MiB" in r.stderr, r.stderr


@pytest.mark.parametrize("size, expected", [("8G", 8 << 30), ("512M", 512 << 20), ("1.5GiB", 3 << 29),
                                            ("off", None), ("67108864", 64 << 20)])
def test_max_memory_sizes(size, expected):
    from modelport.workers.memory_limit import parse_size

    assert parse_size(size) == expected


@pytest.mark.parametrize("size", ["3X", "-1G", "1M", "lots"])
def test_a_bad_max_memory_is_a_usage_error(size):
    assert_one_line_error(run_cli("--max-memory", size, "formats"), 2, "--max-memory")


FILE_READING_TORCH = '''
import sys
import torch


class ReadsAFile(torch.nn.Module):
    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def forward(self, x):
        stolen = torch.from_file(self.path, shared=False, size=4, dtype=torch.uint8)
        return x + stolen.float().sum()


path, kind, out = sys.argv[1], sys.argv[2], sys.argv[3]
if kind == "torchscript":
    torch.jit.script(ReadsAFile(path)).save(out)
else:  # aten::from_file has no fake kernel, so export is given one: a hand-made ExportedProgram
    @torch.library.register_fake("aten::from_file")
    def _fake(filename, shared=None, size=0, *, dtype=None, layout=None, device=None, pin_memory=None):
        return torch.empty(size, dtype=dtype)

    torch.export.save(torch.export.export(ReadsAFile(path), (torch.zeros(1),)), out)
'''


@pytest.mark.parametrize("kind, name", [("torchscript", "reads.pt"), ("exported_program", "reads.pt2")])
def test_a_torch_model_that_reads_a_file_is_refused_before_it_runs(tmp_path, kind, name):
    """TorchScript and ExportedProgram can call aten::from_file (measured: the TorchScript model
    returns the bytes of the file it names). Every command refuses it with exit 2 naming the op."""
    import subprocess
    import sys

    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    script = tmp_path / "make_reader.py"
    script.write_text(FILE_READING_TORCH)
    model = tmp_path / name
    subprocess.run([sys.executable, str(script), str(secret), kind, str(model)], check=True, capture_output=True)
    for args in (("validate", model, model, "--input-shape", "x:1"),
                 ("convert", model, "--to", "onnx", "-o", tmp_path / "out.onnx", "--input-shape", "x:1")):
        assert_one_line_error(run_cli(*args), 2, "the model calls aten::from_file", "--allow-io-ops")
    assert not (tmp_path / "out.onnx").exists()
    # Allowed, it runs confined: the file it names does not exist in its sandbox, so it cannot pass.
    r = run_cli("--allow-io-ops", "validate", model, model, "--input-shape", "x:1")
    assert r.code != 0 and "SECRET" not in r.stdout + r.stderr, (r.code, r.stdout, r.stderr)


class _RunsCode:
    """A pickle that, if anything unpickles it unrestricted, writes the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def _swap_members(src, dst, suffix: str, data: bytes):
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w") as out:
        for info in z.infolist():
            out.writestr(info, data if info.filename.endswith(suffix) else z.read(info.filename))
    return dst


def _pickle_places(tmp_path, marker):
    """(what, CLI arguments) for every place a pickle can hide in what modelport reads."""
    import pickle

    import numpy as np
    import torch

    payload = pickle.dumps({"fc1.weight": _RunsCode(marker)}, protocol=2)
    plain = tmp_path / "checkpoint.pt"
    plain.write_bytes(payload)
    torch.save({"w": torch.zeros(2)}, tmp_path / "real.pt")
    zipped = _swap_members(tmp_path / "real.pt", tmp_path / "zipped.pt", "data.pkl", payload)
    torch.jit.script(torch.nn.Linear(5, 1)).save(tmp_path / "ts.pt")
    script = _swap_members(tmp_path / "ts.pt", tmp_path / "script.pt", "data.pkl", payload)
    torch.export.save(torch.export.export(torch.nn.Linear(5, 1), (torch.zeros(1, 5),)), tmp_path / "ep.pt2")
    program = _swap_members(tmp_path / "ep.pt2", tmp_path / "program.pt2", "sample_inputs/model.pt",
                            pickle.dumps((_RunsCode(marker),), protocol=2))
    package = tmp_path / "mlp_pytorch"
    r = run_cli("convert", FIXTURES / "onnx" / "mlp.onnx", "--to", "pytorch", "--pytorch-format", "package",
                "-o", package, "--no-validate")
    assert r.code == 0, r.stderr
    (package / "weights.pt").write_bytes(payload)
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, x=np.array([_RunsCode(marker)], dtype=object))
    shape = ("--input-shape", "x:1,5")
    return [
        ("a pickle as the source", ("inspect", plain)),
        ("a torch.save zip as the source", ("convert", zipped, "--to", "onnx", "-o", tmp_path / "o.onnx", *shape)),
        ("TorchScript's data.pkl", ("validate", script, script, *shape)),
        ("an ExportedProgram's sample inputs", ("inspect", program)),
        ("an ExportedProgram's sample inputs, validated", ("validate", program, program)),
        ("--weights as a pickle", ("convert", CNN, "--weights", plain, "--to", "onnx", "-o", tmp_path / "w.onnx")),
        ("--weights as a torch.save zip", ("validate", CNN, FIXTURES / "onnx" / "cnn.onnx", "--weights", zipped)),
        ("a package's weights.pt", ("validate", package, FIXTURES / "onnx" / "mlp.onnx")),
        ("--inputs with an object array", ("validate", FIXTURES / "onnx" / "mlp.onnx", FIXTURES / "onnx" / "mlp.onnx",
                                           "--inputs", inputs)),
    ]


def test_no_pickle_anywhere_is_unpickled_unrestricted(tmp_path):
    """Every place a pickle can hide is refused with exit 2, and nothing in it runs: checked
    without the sandbox, so that a pickle that ran would leave its marker file."""
    marker = tmp_path / "PWNED"
    for what, args in _pickle_places(tmp_path, marker):
        r = run_cli(*args, env={"MODELPORT_SANDBOX": "off"})
        assert_one_line_error(r, 2)
        assert not marker.exists(), f"{what}: the pickle ran ({r.stderr})"
    assert not (tmp_path / "o.onnx").exists() and not (tmp_path / "w.onnx").exists()
