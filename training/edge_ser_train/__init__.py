"""edge-ser training and evaluation toolchain (the paper's recipe, speaker-independent).

Needs the ``train`` extra for training (torch, transformers, matplotlib). Corpus loaders,
splits, metrics and evaluation are numpy/stdlib only, so ``edge-ser evaluate`` stays light.
Importing this package imports nothing heavy.

Modules, in data-flow order:

* :mod:`.corpora`: corpus folders -> one manifest of :class:`~.corpora.Record` (stdlib);
* :mod:`.splits`: LOSO / leave-speakers-out / cross-corpus folds, leak-checked (stdlib);
* :mod:`.data`: decoded audio in memory, equal-length training batches (numpy);
* :mod:`.model`: the DistilHuBERT classifier (torch, transformers);
* :mod:`.loss`: Adaptive Focal Loss with class weights (torch);
* :mod:`.train`: the training loop and its output folder (torch);
* :mod:`.metrics`, :mod:`.plots`: UA, WA, F1, confusion matrices, fold summaries;
* :mod:`.evaluation`: an exported model through the runtime on a corpus (no torch);
* :mod:`.cli`, :mod:`.evaluate_cli`: ``edge-ser train`` and ``edge-ser evaluate``.

See ``training/README.md`` for usage and measured CPU time.
"""
