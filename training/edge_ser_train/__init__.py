"""edge-ser training and evaluation toolchain (the paper's recipe, speaker-independent).

Needs the ``train`` extra for training (torch, transformers). Corpus loaders, splits and
metrics are numpy-only so that ``edge-ser evaluate`` stays light.
"""
