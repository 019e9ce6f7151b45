#!/bin/sh
# Cuts the embedded CIFAR-10 sample out of the official binary batches.
#
#   sh datasets/sample/cut_sample.sh [SRC]
#
# SRC is a cifar-10-batches-bin folder (default: ../shared/datasets/cifar-10-batches-bin
# from the repository root). Writes, next to this script:
#   cifar10_train_1000.bin.gz  data_batch_1.bin records 0-999 (training images 0-999)
#   cifar10_val_1000.bin.gz    data_batch_5.bin records 9000-9999 (training images 49000-49999)
#   batches.meta.txt           the class names
# Records are 3,073 bytes (label, then 1,024 R, 1,024 G, 1,024 B), cut unchanged.
# `gzip -n` leaves out the name and timestamp, so reruns give the same bytes.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=${1:-"$here/../../../shared/datasets/cifar-10-batches-bin"}
rec=3073

# The sources must be the official files (sha256 of the release's members).
cd "$src"
sha256sum -c - <<'SUMS'
cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5  data_batch_1.bin
755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add  data_batch_5.bin
SUMS

head -c $((1000 * rec)) data_batch_1.bin | gzip -9 -n >"$here/cifar10_train_1000.bin.gz"
tail -c $((1000 * rec)) data_batch_5.bin | gzip -9 -n >"$here/cifar10_val_1000.bin.gz"
# The official batches.meta.txt may end with a blank line; keep just the ten names.
grep -v '^$' batches.meta.txt >"$here/batches.meta.txt"

cd "$here"
echo "uncompressed:"
for f in cifar10_train_1000.bin.gz cifar10_val_1000.bin.gz; do
  printf '%s  %s\n' "$(gzip -dc "$f" | sha256sum | cut -d' ' -f1)" "${f%.gz}"
done
echo "files:"
sha256sum cifar10_train_1000.bin.gz cifar10_val_1000.bin.gz batches.meta.txt
