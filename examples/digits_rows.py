"""Your own data, no code: scikit-learn's 8 × 8 digits as 8-step sequences of 8-pixel rows, in an .npz.

    python examples/digits_rows.py digits-rows.npz
    momentum-search train --data digits-rows.npz --cell momentum-lstm
    momentum-search launch examples/digits-rows.yaml --workers 2

An optional second argument keeps only that many images (the tests use it to stay small).
"""

import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

out = sys.argv[1]
images, labels = load_digits(return_X_y=True)
if len(sys.argv) > 2:
    images, labels = images[: int(sys.argv[2])], labels[: int(sys.argv[2])]
x = (images / 16.0).reshape(-1, 8, 8).astype(np.float32)  # (N, T = 8 rows, F = 8 pixels)
y = labels.astype(np.int64)  # one class per sequence: the head is classify_last, the metric accuracy
x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.3, random_state=0)
x_valid, x_test, y_valid, y_test = train_test_split(x_rest, y_rest, test_size=0.5, random_state=0)
np.savez(out, x_train=x_train, y_train=y_train, x_valid=x_valid, y_valid=y_valid, x_test=x_test, y_test=y_test)
print(f"wrote {out}: {len(x_train)} train, {len(x_valid)} valid, {len(x_test)} test sequences of 8 rows")
