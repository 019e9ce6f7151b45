"""PyTorch twin of gradstream's `cifar10` experiment (pipeline/commands/experiments/cifar10.ts).

The same recipe, on the same images, step for step:

  data     the official binary CIFAR-10 files read with numpy: data_batch_1..5 give
           the course's split (training images 0..48,999, validation 49,000..49,999),
           test_batch its first 1,000 images; float32, minus the mean training image
  net      3x3 convs of 32, 32, 64, 64, 128 channels (padding 1), each with
           BatchNorm2d (eps 1e-5, momentum 0.1) and ReLU, 2x2 max pools after the
           2nd, 4th and 5th, one Linear(2048, 10); Kaiming normal weights (fan-in,
           gain sqrt 2), zero biases, as gradstream's weightScale "kaiming"
  batches  a permutation of the training images per epoch, cut into floor(N / 128)
           batches of 128 (the leftover images skipped), as gradstream's "shuffle"
  augment  per image a crop offset (dy, dx) in 0..8 of the image padded with 4 zeros,
           then a left-right flip with probability 1/2 (gradstream's augmentBatch)
  optim    torch.optim.SGD(lr, momentum 0.9, nesterov, weight_decay 5e-4) on every
           parameter, OneCycleLR(max_lr 0.1, pct_start 0.3, div 25, final 1e4, cos,
           cycle_momentum False) stepped after every step, 8 epochs
  checks   as the course Solver: after the first step, at every epoch end and after
           the last step, accuracy on 1,000 random training images and on the
           validation images (eval mode, batches of 100); the parameters of the
           best validation accuracy are kept and evaluated on the test images

The random draws are numpy's (np.random.seed(seed)), not gradstream's stream, so the
two runs see different batches, crops and initial weights: the comparison is of the
recipe, not of one trajectory.

  /usr/bin/python3 bench/cifar10_torch.py --data ../shared/datasets/cifar-10-batches-bin [--epochs 8]
      [--num-train 49000] [--threads 2] [--seed 0]

Prints progress lines, then one JSON object on its last line: accuracies (fractions),
wall time of the training loop (ms, checks included, data loading not), images/s.
"""

import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

RECORD = 3073


def read_batch(path, count=None):
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % RECORD != 0:
        raise ValueError(f"{path}: {raw.size} bytes is not a whole number of {RECORD}-byte records")
    raw = raw.reshape(-1, RECORD)
    if count is not None:
        raw = raw[:count]
    return raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32), raw[:, 0].astype(np.int64)


def load(data_dir, num_train, num_val, num_test):
    xs, ys = zip(*(read_batch(os.path.join(data_dir, f"data_batch_{b}.bin")) for b in range(1, 6)))
    x, y = np.concatenate(xs), np.concatenate(ys)
    x_train, y_train = x[:num_train], y[:num_train]
    x_val, y_val = x[49000:49000 + num_val], y[49000:49000 + num_val]
    x_test, y_test = read_batch(os.path.join(data_dir, "test_batch.bin"), num_test)
    # As gradstream: the mean and each difference in float64, then stored as float32.
    mean = x_train.mean(axis=0, dtype=np.float64)

    def centred(images):
        return np.concatenate([(images[s:s + 5000] - mean).astype(np.float32) for s in range(0, len(images), 5000)])

    return (centred(x_train), y_train), (centred(x_val), y_val), (centred(x_test), y_test)


def make_net():
    layers, c = [], 3
    for f, pool in [(32, False), (32, True), (64, False), (64, True), (128, True)]:
        layers += [nn.Conv2d(c, f, 3, padding=1), nn.BatchNorm2d(f, eps=1e-5, momentum=0.1), nn.ReLU()]
        if pool:
            layers.append(nn.MaxPool2d(2))
        c = f
    layers += [nn.Flatten(), nn.Linear(128 * 4 * 4, 10)]
    net = nn.Sequential(*layers)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return net


def augment(x, crop=4):
    n, _, h, w = x.shape
    offsets = np.random.randint(0, 2 * crop + 1, (n, 2))
    flips = np.random.rand(n) < 0.5
    padded = np.pad(x, ((0, 0), (0, 0), (crop, crop), (crop, crop)))
    out = np.empty_like(x)
    for i in range(n):
        dy, dx = offsets[i]
        img = padded[i, :, dy:dy + h, dx:dx + w]
        out[i] = img[:, :, ::-1] if flips[i] else img
    return out


def accuracy(net, x, y, batch=100):
    net.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(y), batch):
            pred = net(torch.from_numpy(x[s:s + batch])).argmax(1).numpy()
            correct += int((pred == y[s:s + batch]).sum())
    net.train()
    return correct / len(y)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--num-train", type=int, default=49000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    (xt, yt), (xv, yv), (xs, ys) = load(a.data, a.num_train, 1000, 1000)
    net = make_net()
    steps_per_epoch = max(a.num_train // a.batch_size, 1)
    total = steps_per_epoch * a.epochs
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=total, pct_start=0.3,
                                                div_factor=25, final_div_factor=1e4, anneal_strategy="cos",
                                                cycle_momentum=False)
    history, best, best_state = [], -1.0, None
    t0 = time.perf_counter()
    net.train()
    first_loss = None
    for t in range(total):
        if t % steps_per_epoch == 0:
            perm = np.random.permutation(a.num_train)
        i = t % steps_per_epoch
        idx = perm[i * a.batch_size:(i + 1) * a.batch_size]
        xb = torch.from_numpy(augment(xt[idx]))
        loss = F.cross_entropy(net(xb), torch.from_numpy(yt[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if first_loss is None:
            first_loss = loss.item()
        epoch_end = (t + 1) % steps_per_epoch == 0
        if t == 0 or epoch_end or t == total - 1:
            sub = np.random.choice(a.num_train, 1000) if a.num_train > 1000 else np.arange(a.num_train)
            train_acc, val_acc = accuracy(net, xt[sub], yt[sub]), accuracy(net, xv, yv)
            history.append({"iteration": t + 1, "epoch": (t + 1) // steps_per_epoch, "trainAcc": train_acc,
                            "valAcc": val_acc, "loss": loss.item(), "elapsedMs": (time.perf_counter() - t0) * 1e3})
            print(f"torch: step {t + 1}/{total} (epoch {(t + 1) / steps_per_epoch:.2f}) loss {loss.item():.4f} "
                  f"train acc {train_acc:.3f} val acc {val_acc:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
            if val_acc > best:
                best, best_state = val_acc, {k: v.clone() for k, v in net.state_dict().items()}
    wall = time.perf_counter() - t0
    last = history[-1]
    net.load_state_dict(best_state)
    test_acc = accuracy(net, xs, ys)
    print(json.dumps({
        "torch": torch.__version__, "threads": a.threads, "epochs": a.epochs, "numTrain": a.num_train,
        "batchSize": a.batch_size, "steps": total, "firstLoss": first_loss, "finalValAcc": last["valAcc"],
        "finalTrainAcc": last["trainAcc"], "bestValAcc": best, "testAcc": test_acc, "wallMs": wall * 1e3,
        "imagesPerSec": total * a.batch_size / wall, "history": history,
    }))


if __name__ == "__main__":
    main()
