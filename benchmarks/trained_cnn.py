"""The fixture CNN's architecture with trained weights, built offline, for bench_quantize.py.

Why: every other model here has seeded random weights (no hub downloads), whose close logits make
int8's top-1 agreement a poor guide to what a trained network keeps (the README's quantization
table: resnet18 84%, cosine 0.995). Trained weights need data, so the data is made here too: ten
classes, each a fixed random 3x32x32 template, a sample being its class's template plus noise
(sigma 0.7: the network, which averages its features over the image, reaches 97% on the judging
samples; at 1.0 it reaches 50%, at 0.5 100%). `fixtures/models.py:SmallCNN` is
trained on 4,096 such samples with Adam (seeded; about 10 s on 2 cores), and the calibration and
judging samples are 32 each of the same distribution, drawn apart from the training ones.

    train(work) -> (state_dict .pt, calibration .npz, judging .npz), each {"image": [32, 3, 32, 32]}
"""

from __future__ import annotations

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CLASSES, NOISE, TRAIN, STEPS = 10, 0.7, 4096, 300


def _samples(templates: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    images = templates[labels] + NOISE * rng.standard_normal((n, *templates.shape[1:]))
    return images.astype(np.float32), labels


def train(work: str) -> tuple[str, str, str]:
    import torch

    sys.path.insert(0, os.path.join(ROOT, "fixtures"))
    from models import SmallCNN

    torch.manual_seed(0)
    templates = np.random.default_rng(0).standard_normal((CLASSES, 3, 32, 32)).astype(np.float32)
    x, y = _samples(templates, TRAIN, seed=1)
    model = SmallCNN()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(0)
    for _ in range(STEPS):
        batch = torch.randint(0, TRAIN, (128,), generator=generator)
        loss = torch.nn.functional.cross_entropy(model(xs[batch]), ys[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    weights = os.path.join(work, "cnn_trained.pt")
    torch.save(model.state_dict(), weights)
    paths = []
    for name, seed in (("calibration", 2), ("judging", 3)):
        images, labels = _samples(templates, 32, seed)
        if name == "judging":
            with torch.no_grad():
                accuracy = float((model(torch.from_numpy(images)).argmax(1).numpy() == labels).mean())
            print(f"cnn_trained: accuracy {accuracy:.1%} on the 32 judging samples (labels)", flush=True)
        path = os.path.join(work, f"cnn_trained.{name}.npz")
        np.savez(path, image=images)
        paths.append(path)
    return weights, paths[0], paths[1]
