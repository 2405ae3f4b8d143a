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
