"""The Python package output of ONNX -> PyTorch (`--pytorch-format package`): readable, trainable,
and free of modelport.

    cnn_pytorch/
      __init__.py   from .model import INPUTS, OUTPUTS, Model, load
      model.py      class Model(torch.nn.Module): parameters and buffers declared in __init__, the
                    converted graph as forward(), the helpers forward calls, and load()
      weights.pt    the state_dict (torch.save; load() reads it with weights_only=True)
      README.md     how to load, fine-tune and re-export it

The forward is torch.fx's own code generation for the converted graph, tidied for reading:
attribute loads are inlined as `self.name`, fx's `x = None` lifetime hints are dropped, and the
helpers of ops/ it calls are copied in (converters/onnx_torch/inline.py) and named `onnx_<op>`,
so a reader sees which calls carry ONNX semantics. model.py also works as a lone file: it finds
weights.pt beside itself.
"""

from __future__ import annotations

import io
import os
import re
import tokenize

from modelport.converters.onnx_torch.inline import Inliner, rename, tight_keywords

_GET_ATTR = re.compile(r"^\s+(?P<local>[A-Za-z_]\w*) = self\.(?P<attr>[A-Za-z_][\w.]*)$")
_LIFETIME = re.compile(r";\s+(?:[A-Za-z_]\w*\s*=\s*)+None\s*$")
_RESERVED = {"Model", "load", "INPUTS", "OUTPUTS", "self", "os", "torch"}


def _keyword_settings(graph) -> None:
    """Calls of our helpers name their settings: `onnx_conv(x, w, b, strides=[2, 2], group=1)`
    reads better than eight positional values. Tensors (fx nodes) stay positional up to the first
    setting; the call means the same either way."""
    import inspect

    import torch.fx as fx

    for node in graph.nodes:
        if node.op != "call_function" or not getattr(node.target, "__module__", "").startswith("modelport."):
            continue
        try:
            params = list(inspect.signature(node.target).parameters.values())
        except (TypeError, ValueError):
            continue
        if any(p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY) for p in params[:len(node.args)]):
            continue
        lead = 0
        while lead < len(node.args) and (isinstance(node.args[lead], fx.Node) or node.args[lead] is None):
            lead += 1
        if lead == len(node.args):
            continue
        moved = {p.name: a for p, a in zip(params[lead:], node.args[lead:])}
        node.args, node.kwargs = node.args[:lead], {**moved, **node.kwargs}


def _forward_source(gm) -> tuple[str, dict]:
    """fx's forward without lifetime hints and with attribute loads inlined; and its globals."""
    _keyword_settings(gm.graph)
    code = gm.graph.python_code(root_module="self")
    lines, attrs = [], {}
    for line in code.src.strip("\n").splitlines():
        line = _LIFETIME.sub("", line)
        m = _GET_ATTR.match(line)
        if m:
            attrs[m["local"]] = f"self.{m['attr']}"
            continue
        lines.append(line)
    return tight_keywords(rename("\n".join(lines) + "\n", attrs)), code.globals


def _identifiers(source: str) -> set[str]:
    return {t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.NAME}


def _declarations(gm, torch, classes: dict[int, str]) -> list[str]:
    """__init__ lines that create every parameter and buffer with its shape and dtype (values come
    from the state_dict), and the subgraph modules (If branches, Loop and Scan bodies)."""
    out = []
    for name, p in gm.named_parameters(recurse=False):
        out.append(f"self.{name} = torch.nn.Parameter({_empty(p, torch)})")
    for name, b in gm.named_buffers(recurse=False):
        out.append(f"self.register_buffer({name!r}, {_empty(b, torch)})")
    for name, child in gm.named_children():
        out.append(f"self.{name} = {classes[id(child)]}()")
    return out


def _modules(gm) -> list[tuple[str, object]]:
    """(class name, module) for the model and every subgraph module in it, inner ones first."""
    order: list[tuple[str, object]] = []
    taken = set(_RESERVED)

    def visit(module, class_name):
        for name, child in module.named_children():
            base = "".join(part.capitalize() for part in name.split("_") if part) or "Subgraph"
            final, i = base, 2
            while final in taken:
                final, i = f"{base}{i}", i + 1
            taken.add(final)
            visit(child, final)
        order.append((class_name, module))

    visit(gm, "Model")
    return order


def _empty(t, torch) -> str:
    shape = repr(tuple(int(d) for d in t.shape))
    dtype = "" if t.dtype == torch.float32 else f", dtype={t.dtype}"
    return f"torch.empty({shape}{dtype})"


def model_source(gm, *, doc: str, inputs: list[tuple[str, list, str]], outputs: list[str]) -> str:
    """model.py for the GraphModule `gm`; `inputs` are (name, shape with str dims dynamic, dtype)."""
    import torch

    modules = _modules(gm)
    forwards = {id(m): _forward_source(m) for _, m in modules}
    used = set().union(*(_identifiers(src) for src, _ in forwards.values()))
    inliner = Inliner(reserved=_RESERVED | used | {name for name, _ in modules}, predefined={"torch": torch, "os": os})
    classes = {id(m): name for name, m in modules}
    sources = [_class_source(name, m, forwards[id(m)], inliner, classes, torch) for name, m in modules]
    input_specs = ",\n".join(f"    {n!r}: ({list(s)!r}, {d!r})" for n, s, d in inputs)
    classes_source = "\n\n\n".join(sources)
    return f'''"""{doc}

Load it with `load()` (weights.pt beside this file), fine-tune it like any torch.nn.Module, or
export it again with torch.onnx.export / torch.export. Helpers named onnx_<op> implement an ONNX
operator's exact semantics (padding, rounding, broadcasting) in plain torch.
"""

from __future__ import annotations

{inliner.preamble()}

# The inputs forward() takes, in order: name -> (shape, dtype). A str dim is dynamic (any size).
INPUTS = {{
{input_specs}
}}
# The names of forward()'s outputs, in order (one output is returned bare, several as a tuple).
OUTPUTS = {list(outputs)!r}


{classes_source}


def load(weights: str | None = None, device: str = "cpu") -> Model:
    """The model with its converted weights (weights.pt beside this file unless given), in eval mode."""
    path = weights or os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.pt")
    model = Model()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(device).eval()
'''


def _class_source(class_name: str, module, forward_and_globals, inliner, classes: dict[int, str], torch) -> str:
    forward, fx_globals = forward_and_globals
    used = _identifiers(forward)
    mapping = {}
    for name, obj in fx_globals.items():
        if name not in used or name == "torch":
            continue
        preferred = f"onnx_{obj.__name__.strip('_')}" if getattr(obj, "__module__", "").startswith("modelport.") \
            else name
        mapping[name] = inliner.name(obj, preferred)
    forward = rename(forward, {k: v for k, v in mapping.items() if k != v})
    body = "\n".join("        " + line for line in _declarations(module, torch, classes)) or "        pass"
    forward = "\n".join(("    " + line) if line else "" for line in forward.rstrip().splitlines())
    doc = ("The converted graph. Parameters are the model's float weights (trainable); buffers hold\n"
           "    integer tensors, running statistics and constants.") if class_name == "Model" else \
        ("A subgraph of the model (an If branch, a Loop or Scan body): its own inputs come first,\n"
         "    then the values of the graph around it that it reads. It returns a tuple.")
    return f'''class {class_name}(torch.nn.Module):
    """{doc}"""

    def __init__(self):
        super().__init__()
{body}

{forward}'''


_README = """# PyTorch code for {source}

Converted by modelport from `{source}`. It needs torch only.

```python
import sys
sys.path.insert(0, "path/to")        # the folder that holds this package's folder
from this_folder_name import load, INPUTS, OUTPUTS
model = load()                       # or load(device="cuda"), load(weights="finetuned.pt")
```

- `model.py` is the whole model: `Model` declares the weights as parameters and buffers, and
  `forward` is the converted graph. Edit it like any PyTorch code. It also works as a lone file
  (`python -c "import model"` in this folder): it finds `weights.pt` beside itself.
- `weights.pt` is its state_dict (`torch.save`), read with `torch.load(..., weights_only=True)`.
- Fine-tune with `model.train()` and any optimizer; save with `torch.save(model.state_dict(), path)`.
- Inputs: {inputs}. Outputs: {outputs}.
"""


def write(gm, folder: str, *, source: str, doc: str, inputs: list[tuple[str, list, str]], outputs: list[str]) -> None:
    """Write the package into `folder` (created; the caller places it atomically)."""
    import torch

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "model.py"), "w", encoding="utf-8") as f:
        f.write(model_source(gm, doc=doc, inputs=inputs, outputs=outputs))
    with open(os.path.join(folder, "__init__.py"), "w", encoding="utf-8") as f:
        f.write(f'"""{doc.splitlines()[0]}"""\n\nfrom .model import INPUTS, OUTPUTS, Model, load\n\n'
                '__all__ = ["INPUTS", "OUTPUTS", "Model", "load"]\n')
    torch.save({k: v.detach().clone() for k, v in gm.state_dict().items()}, os.path.join(folder, "weights.pt"))
    with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
        f.write(_README.format(source=os.path.basename(source),
                               inputs=", ".join(f"`{n}` {list(s)} {d}" for n, s, d in inputs),
                               outputs=", ".join(f"`{o}`" for o in outputs)))
