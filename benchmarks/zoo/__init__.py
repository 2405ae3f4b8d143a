"""A corpus of real architectures (torchvision, timm, transformers, Keras) and the benchmark that
runs each through the modelport CLI beside a by-hand anchor: see README.md in this folder."""
