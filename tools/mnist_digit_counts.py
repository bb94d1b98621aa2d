#!/usr/bin/env python3
"""Which digits a U-Net's samples are, and how close they sit to the training images.

Reads the training set and its labels as tools/fetch_mnist5k.sh writes them, and the samples
`collapse-explorer images` writes (samples_<sampler>.npy, [n, 1, H, W] in [0, 1]). Shrinks the
training images to the samples' size by area averaging (what `train-unet --size` does), labels
every sample by its nearest training image (1-NN, L2 on pixels) and prints, per set:
the share of each digit, its total-variation distance from the training set's shares, and the
median distance to the nearest training image (small: copies of training images).
The labeller's own accuracy (leave-one-out 1-NN on the training images) is printed first.

With EPS set (a TID radius), it also splits each set's Hill estimate at that radius into its two
terms, as SPEC §6 defines it with X = neighbour count + 1 sorted descending and k = 10% of the
set: H_k = mean(ln X_(1..k)) − ln X_(k+1). TID is the generated set's H_k minus the training
set's (here over 5 random training subsets of the samples' size), so it rises when the top k
counts rise (denser clumps) or when X_(k+1) falls (a thinner middle: more isolated samples); the
split says which.

    python tools/mnist_digit_counts.py TRAIN.npy TRAIN-labels.npy SAMPLES.npy [SAMPLES.npy ...]
    EPS=2.554 python tools/mnist_digit_counts.py ...

Needs numpy (the peers' venv has it: ~/.venv-peers/bin/python).
"""
import os
import sys

import numpy as np


def area_weights(src, dst):
    """[dst, src] weights of area averaging from src to dst pixels along one axis (dst <= src)."""
    w = np.zeros((dst, src))
    ratio = src / dst
    for j in range(dst):
        lo, hi = j * ratio, (j + 1) * ratio
        for k in range(int(np.floor(lo)), min(int(np.ceil(hi)), src)):
            overlap = min(hi, k + 1) - max(lo, k)
            if overlap > 1e-9:
                w[j, k] = overlap / ratio
    return w


def nearest(queries, refs, skip_self=False):
    """Index of and distance to each query's nearest reference (L2), in blocks."""
    r2 = (refs**2).sum(1)
    idx, dist = [], []
    for start in range(0, len(queries), 512):
        q = queries[start:start + 512]
        d2 = (q**2).sum(1)[:, None] + r2[None, :] - 2 * q @ refs.T
        if skip_self:
            rows = np.arange(len(q))
            d2[rows, start + rows] = np.inf
        i = d2.argmin(1)
        idx.append(i)
        dist.append(np.sqrt(np.maximum(d2[np.arange(len(q)), i], 0)))
    return np.concatenate(idx), np.concatenate(dist)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    train = np.load(sys.argv[1]).astype(np.float64)
    labels = np.load(sys.argv[2])
    sets = [(path, np.load(path).astype(np.float64)) for path in sys.argv[3:]]
    size = sets[0][1].shape[-1]
    wy, wx = area_weights(train.shape[1], size), area_weights(train.shape[2], size)
    small = np.einsum("ij,njk,lk->nil", wy, train, wx).reshape(len(train), -1)
    shares = lambda lab: np.bincount(lab, minlength=10) / len(lab)
    own, own_d = nearest(small, small, skip_self=True)
    accuracy = (labels[own] == labels).mean()
    print(f"training set: {len(small)} images shrunk to {size}x{size}; 1-NN labeller "
          f"leave-one-out accuracy {accuracy:.3f}")
    base = shares(labels)
    rows = [("training set", base, np.median(own_d))]
    for path, x in sets:
        i, d = nearest(x.reshape(len(x), -1), small)
        rows.append((f"{path} ({len(x)})", shares(labels[i]), np.median(d)))
    print("| set | " + " | ".join(str(k) for k in range(10)) + " | TV from training | "
          "median distance to nearest training image |")
    print("|---|" + "---|" * 12)
    for name, s, med in rows:
        tv = 0.5 * np.abs(s - base).sum()
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in s) + f" | {tv:.3f} | {med:.3f} |")
    if os.environ.get("EPS"):
        hill_split(float(os.environ["EPS"]), small, labels, sets)


def hill_split(eps, small, labels, sets):
    """The two terms of each set's Hill estimate at `eps` (see the module's doc)."""
    def counts(x):
        d2 = (x**2).sum(1)[:, None] + (x**2).sum(1)[None, :] - 2 * x @ x.T
        np.fill_diagonal(d2, np.inf)
        return (d2 <= eps**2).sum(1)

    def split(x, lab):
        c = counts(x)
        k = max(1, len(x) // 10)
        order = np.argsort(-c, kind="stable")
        top = np.log(c[order[:k]] + 1.0).mean()
        threshold = c[order[k]] + 1
        ones = (lab[order[:k]] == 1).mean()
        return top, threshold, top - np.log(threshold), (c == 0).mean(), ones

    n = len(sets[0][1])
    print(f"\nHill split at eps = {eps} (k = {max(1, n // 10)} of {n}):")
    print("| set | mean ln X top k | X_(k+1) | H_k | no neighbour | digit 1 in top k |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for r in range(5):
        pick = rng.choice(len(small), n, replace=False)
        top, thr, h, zero, ones = split(small[pick], labels[pick])
        print(f"| training subset {r} | {top:.2f} | {thr} | {h:.3f} | {zero:.3f} | {ones:.2f} |")
    for path, x in sets:
        x = x.reshape(len(x), -1)
        i, _ = nearest(x, small)
        top, thr, h, zero, ones = split(x, labels[i])
        print(f"| {path} | {top:.2f} | {thr} | {h:.3f} | {zero:.3f} | {ones:.2f} |")


if __name__ == "__main__":
    main()
