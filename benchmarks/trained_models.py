"""Networks with trained weights, built offline, for bench_quantize.py: the fixture CNN and a ResNet-50.

Why: every other model here has seeded random weights (no hub downloads), whose close logits make
int8's top-1 agreement a poor guide to what a trained network keeps (the README's quantization
table: resnet18 84%, cosine 0.995; the light ResNet-50 3%). Trained weights need data, so the data
is made here too: ten classes, each a fixed random 3xSxS template, a sample being its class's
template plus Gaussian noise. Each network is trained on such samples with Adam (seeded), and the
calibration and judging samples are 32 each of the same distribution, drawn apart from the
training ones.

- `cnn`: `fixtures/models.py:SmallCNN` at 32 px, noise 0.7, 4,096 samples, 300 steps of 128
  (about 10 s on 2 cores). The network averages its features over the image: it reaches 97% on
  the judging samples (at noise 1.0 it reaches 50%, at 0.5 100%).
- `resnet50`: torchvision's ResNet-50 (ten classes) at 64 px, noise 2.0, 150 steps of 64 (about
  2.5 minutes on 2 cores). Its batch-norm statistics come from training, as a trained network's
  do, instead of the corpus' randomised ones.

    train(work, arch) -> (state_dict .pt, calibration .npz, judging .npz), each {"image": [32, 3, S, S]}
    SOURCES[arch]: the source `modelport convert SOURCE --weights STATE_DICT` converts.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CLASSES = 10


@dataclass(frozen=True)
class Recipe:
    """How one architecture is trained: image size, noise, training set size, steps, batch, learning rate."""

    size: int
    noise: float
    train: int
    steps: int
    batch: int
    lr: float


RECIPES = {
    "cnn": Recipe(size=32, noise=0.7, train=4096, steps=300, batch=128, lr=1e-2),
    "resnet50": Recipe(size=64, noise=2.0, train=4096, steps=150, batch=64, lr=1e-3),
}


# The source each architecture is converted from, with `--weights STATE_DICT` (relative to the repo).
# modelport runs a `file.py:callable` source alone in a scratch folder, so the fixture CNN's source is
# fixtures/models.py itself (its seeded weights replaced by --weights).
SOURCES = {"cnn": "fixtures/models.py:cnn", "resnet50": "benchmarks/trained_models.py:resnet50"}


def _untrained(arch: str):
    if arch == "cnn":
        sys.path.insert(0, os.path.join(ROOT, "fixtures"))
        from models import SmallCNN

        return SmallCNN()
    return resnet50()


def resnet50():
    """torchvision's ResNet-50 with ten classes, its input named `image`, untrained."""
    import torch
    import torchvision

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torchvision.models.resnet50(weights=None, num_classes=CLASSES)

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return self.net(image)

    return Classifier()


def _samples(templates: np.ndarray, noise: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    images = templates[labels] + noise * rng.standard_normal((n, *templates.shape[1:]))
    return images.astype(np.float32), labels


def train(work: str, arch: str = "cnn") -> tuple[str, str, str]:
    import torch

    recipe = RECIPES[arch]
    torch.manual_seed(0)
    templates = np.random.default_rng(0).standard_normal((CLASSES, 3, recipe.size, recipe.size)).astype(np.float32)
    x, y = _samples(templates, recipe.noise, recipe.train, seed=1)
    model = _untrained(arch)
    optimiser = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(recipe.steps):
        batch = torch.randint(0, recipe.train, (recipe.batch,), generator=generator)
        loss = torch.nn.functional.cross_entropy(model(xs[batch]), ys[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    weights = os.path.join(work, f"{arch}_trained.pt")
    torch.save(model.state_dict(), weights)
    paths = []
    for name, seed in (("calibration", 2), ("judging", 3)):
        images, labels = _samples(templates, recipe.noise, 32, seed)
        if name == "judging":
            with torch.no_grad():
                accuracy = float((model(torch.from_numpy(images)).argmax(1).numpy() == labels).mean())
            print(f"{arch}_trained: accuracy {accuracy:.1%} on the 32 judging samples (labels)", flush=True)
        path = os.path.join(work, f"{arch}_trained.{name}.npz")
        np.savez(path, image=images)
        paths.append(path)
    return weights, paths[0], paths[1]
