"""Word-level language modelling on the Penn Treebank (Mikolov's preprocessed text)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor

from ._base import SPLITS, Batch, Split, Task, check_int, check_split

EOS = "<eos>"
UNK = "<unk>"


def _corpus_file(directory: Path, split: Split) -> Path | None:
    for name in (f"ptb.{split}.txt", f"{split}.txt"):
        if (directory / name).is_file():
            return directory / name
    return None


def _words(path: Path) -> list[str]:
    # <eos> closes every line, as in the PyTorch word_language_model example and AWD-LSTM.
    with open(path, encoding="utf-8") as stream:
        return [word for line in stream for word in (*line.split(), EOS)]


class PTBTask(Task):
    """Word-level language model: predict every next token of a text stream.

    Reads ``ptb.train.txt``, ``ptb.valid.txt`` and ``ptb.test.txt`` (or ``train.txt``, ``valid.txt``,
    ``test.txt``) from ``data_dir``, one sentence a line. The vocabulary is the training words in order of
    first appearance plus ``<eos>`` at each line end; validation and test words outside it become
    ``<unk>`` (an error if the vocabulary has no ``<unk>``).

    A split of ``N`` tokens is cut into ``batch_size`` contiguous streams of ``N // batch_size`` tokens
    (the remainder is dropped); batches are consecutive segments of ``bptt`` steps (the last one shorter)
    with ``y`` the next token of ``x``, both ``(T, B)`` int64. The task is stateful: the trainer carries the
    hidden state from one segment to the next, so segments are never shuffled. The metric is the
    perplexity, exp of the mean token cross-entropy.

    Args:
        data_dir: folder of the three text files.
        bptt: steps per segment (truncated back-propagation length).
        emsize: word embedding size, the model's ``input_size``.
    """

    name = "ptb"
    stateful = True

    def __init__(self, *, data_dir: str | os.PathLike[str] = "data/ptb", bptt: int = 70, emsize: int = 200) -> None:
        directory = Path(data_dir).expanduser()
        bptt = check_int("bptt", bptt, minimum=1)
        emsize = check_int("emsize", emsize, minimum=1)
        super().__init__(data_dir=str(directory), bptt=bptt, emsize=emsize)
        self.bptt = bptt
        self.input_size = emsize
        found = {split: _corpus_file(directory, split) for split in SPLITS}
        paths = {split: path for split, path in found.items() if path is not None}
        missing = [split for split in SPLITS if split not in paths]
        if missing:
            raise FileNotFoundError(
                f"PTB text missing in {directory} for split(s) {', '.join(missing)}: expected "
                + ", ".join(f"ptb.{split}.txt or {split}.txt" for split in missing)
            )
        train_words = _words(paths["train"])
        self.vocabulary: list[str] = list(dict.fromkeys(train_words))
        self.output_size = self.vocab_size = len(self.vocabulary)
        ids = {word: i for i, word in enumerate(self.vocabulary)}
        self._tokens: dict[Split, Tensor] = {}
        for split, path in paths.items():
            words = train_words if split == "train" else _words(path)
            unknown = sorted({word for word in words if word not in ids})
            if unknown and UNK not in ids:
                raise ValueError(
                    f"{path} has {len(unknown)} word(s) missing from the training vocabulary "
                    f"(e.g. {', '.join(unknown[:5])}) and the vocabulary has no {UNK} to map them to"
                )
            unk = ids.get(UNK, -1)
            self._tokens[split] = torch.tensor([ids.get(word, unk) for word in words], dtype=torch.int64)
        self._streams: dict[tuple[Split, int], Tensor] = {}

    def _stream(self, split: Split, batch_size: int) -> Tensor:
        """``(L, batch_size)``: column ``j`` is the ``j``-th contiguous chunk of the split's tokens."""
        check_split(split)
        check_int("batch_size", batch_size, minimum=1)
        key = (split, batch_size)
        if key not in self._streams:
            tokens = self._tokens[split]
            length = len(tokens) // batch_size
            if length < 2:
                raise ValueError(
                    f"batch_size must be at most {len(tokens) // 2} for the {split} split of "
                    f"{len(tokens)} tokens; got {batch_size}"
                )
            self._streams[key] = tokens[: length * batch_size].view(batch_size, length).T.contiguous()
        return self._streams[key]

    def batches(self, split: Split, batch_size: int, *, generator: torch.Generator | None = None) -> Iterator[Batch]:
        """Consecutive ``bptt``-step segments of the ``batch_size`` streams; ``generator`` is ignored
        because the hidden state runs on from one segment to the next."""
        stream = self._stream(split, batch_size)
        for start in range(0, len(stream) - 1, self.bptt):
            steps = min(self.bptt, len(stream) - 1 - start)
            yield Batch(x=stream[start : start + steps], y=stream[start + 1 : start + 1 + steps])

    def num_batches(self, split: Split, batch_size: int) -> int:
        return -(-(len(self._stream(split, batch_size)) - 1) // self.bptt)
