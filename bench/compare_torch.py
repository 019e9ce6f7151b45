"""PyTorch (CPU) side of bench/compare.ts: the same work as gradstream, float32.

  gemm   1024^3 torch.mm
  conv   F.conv2d forward + autograd backward (dx, dw, db), x (100, 3, 31, 31),
         w (25, 3, 3, 3), stride 2, pad 1
  cnn    ThreeLayerConvNet step, batch 50 (conv 32 filters 7x7 pad 3, ReLU, 2x2
         max pool, affine 100, ReLU, affine 10, softmax loss): forward, backward
         (the input needs no gradient) and an Adam step
  cnn500 the same with the course's hidden 500 and L2 reg 1e-3
  epoch  one epoch of the course's convnet on the real CIFAR-10 (--cifar DIR),
         49,000 images, with the Solver's schedule and accuracy checks
  fc     the course's batch-norm experiment as a plain training loop: FC
         [100]x5 + BatchNorm1d + ReLU, weight scale 2e-2, Adam 1e-3, batch 50,
         10 epochs on 1,000 examples (the course Solver's schedule: a fresh
         choice(1000, 50) batch per step, accuracy checks on the first and last
         step and every epoch end, on the 1,000 training and 1,000 validation
         examples in batches of 100 in eval mode); the data come from the file
         --fc-data (written by bench/compare.ts from gradstream's embedded
         CIFAR-10 sample, so both sides train on the same images)

Run by bench/compare.ts as
  OPENBLAS_NUM_THREADS=t OMP_NUM_THREADS=t /usr/bin/python3 bench/compare_torch.py --threads t --rows ...
It prints one JSON object on its last line with every timed repetition
(after warm-up), in ms.
"""

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F


def timed(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return out


def bench_gemm(reps):
    g = torch.Generator().manual_seed(0)
    n = 1024
    a = torch.randn(n, n, generator=g)
    b = torch.randn(n, n, generator=g)
    ms = timed(lambda: torch.mm(a, b), 3, reps)
    return {"ms": ms, "gflops": [2 * n**3 / (t / 1e3) / 1e9 for t in ms]}


def bench_conv(reps):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 3, 31, 31, generator=g, requires_grad=True)
    w = torch.randn(25, 3, 3, 3, generator=g, requires_grad=True)
    b = torch.randn(25, generator=g, requires_grad=True)
    dout = torch.randn(100, 25, 16, 16, generator=g)

    def step():
        out = F.conv2d(x, w, b, stride=2, padding=1)
        dx, dw, db = torch.autograd.grad(out, (x, w, b), dout)
        return dx

    return {"ms": timed(step, 3, reps)}


def bench_cnn(reps, hidden=100, reg=0.0):
    g = torch.Generator().manual_seed(0)
    N, Fn, fs = 50, 32, 7
    X = torch.randn(N, 3, 32, 32, generator=g)
    y = torch.arange(N) % 10
    params = [
        (1e-3 * torch.randn(Fn, 3, fs, fs, generator=g)).requires_grad_(),
        torch.zeros(Fn, requires_grad=True),
        (1e-3 * torch.randn(Fn * 16 * 16, hidden, generator=g)).requires_grad_(),
        torch.zeros(hidden, requires_grad=True),
        (1e-3 * torch.randn(hidden, 10, generator=g)).requires_grad_(),
        torch.zeros(10, requires_grad=True),
    ]
    opt = torch.optim.Adam(params, lr=1e-3)
    W1, b1, W2, b2, W3, b3 = params

    def step():
        opt.zero_grad(set_to_none=True)
        h = F.max_pool2d(F.relu(F.conv2d(X, W1, b1, padding=(fs - 1) // 2)), 2)
        h = F.relu(h.reshape(N, -1) @ W2 + b2)
        loss = F.cross_entropy(h @ W3 + b3, y)
        if reg:
            loss = loss + 0.5 * reg * (W1.pow(2).sum() + W2.pow(2).sum() + W3.pow(2).sum())
        loss.backward()
        opt.step()
        return loss

    return {"ms": timed(step, 3, reps)}


class FcNet(torch.nn.Module):
    """FullyConnectedNet([100] * 5, normalization="batchnorm"): affine - batchnorm - ReLU, x5, then affine."""

    def __init__(self, dims, weight_scale, rng):
        super().__init__()
        self.linears = torch.nn.ModuleList()
        self.norms = torch.nn.ModuleList()
        for i in range(len(dims) - 1):
            lin = torch.nn.Linear(dims[i], dims[i + 1])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy((weight_scale * rng.randn(dims[i], dims[i + 1])).T.astype(np.float32)))
                lin.bias.zero_()
            self.linears.append(lin)
            if i < len(dims) - 2:
                # PyTorch's momentum 0.1 is the course's 0.9 (the weight of the old running average).
                self.norms.append(torch.nn.BatchNorm1d(dims[i + 1], eps=1e-5, momentum=0.1))

    def forward(self, x):
        h = x.reshape(x.shape[0], -1)
        for lin, norm in zip(self.linears[:-1], self.norms):
            h = F.relu(norm(lin(h)))
        return self.linears[-1](h)


def bench_fc(path, reps):
    with open(path + ".json") as f:
        meta = json.load(f)
    raw = np.fromfile(path, dtype=np.float32)
    nt, nv, d = meta["numTrain"], meta["numVal"], meta["dim"]
    x_train = torch.from_numpy(raw[: nt * d].reshape(nt, d).copy())
    x_val = torch.from_numpy(raw[nt * d : (nt + nv) * d].reshape(nv, d).copy())
    labels = np.fromfile(path + ".labels", dtype=np.int32)
    y_train = torch.from_numpy(labels[:nt].astype(np.int64))
    y_val = torch.from_numpy(labels[nt : nt + nv].astype(np.int64))
    batch, epochs = 50, 10

    def accuracy(model, X, Y):
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, X.shape[0], 100):
                correct += (model(X[i : i + 100]).argmax(dim=1) == Y[i : i + 100]).sum().item()
        model.train()
        return correct / X.shape[0]

    def run():
        rng = np.random.RandomState(0)
        model = FcNet([d, 100, 100, 100, 100, 100, 10], 2e-2, rng)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        per_epoch = max(nt // batch, 1)
        iterations = epochs * per_epoch
        train_acc, val_acc = [], []
        for t in range(iterations):
            idx = torch.from_numpy(rng.choice(nt, batch))
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            epoch_end = (t + 1) % per_epoch == 0
            if t == 0 or t == iterations - 1 or epoch_end:
                train_acc.append(accuracy(model, x_train, y_train))
                val_acc.append(accuracy(model, x_val, y_val))
        return {"trainAcc": train_acc[-1], "valAcc": val_acc[-1], "bestValAcc": max(val_acc), "checks": len(val_acc)}

    result = {}

    def once():
        result.update(run())

    ms = timed(once, 1, reps)
    return {"ms": ms, **result}


class ThreeLayerConvNet(torch.nn.Module):
    """The course's cnn.py: conv 7x7 (32 filters, pad 3) - ReLU - 2x2 max pool - affine - ReLU - affine."""

    def __init__(self, hidden, weight_scale, rng):
        super().__init__()
        draw = lambda *shape: torch.nn.Parameter(torch.from_numpy((weight_scale * rng.randn(*shape)).astype(np.float32)))
        self.W1, self.b1 = draw(32, 3, 7, 7), torch.nn.Parameter(torch.zeros(32))
        self.W2, self.b2 = draw(32 * 16 * 16, hidden), torch.nn.Parameter(torch.zeros(hidden))
        self.W3, self.b3 = draw(hidden, 10), torch.nn.Parameter(torch.zeros(10))

    def forward(self, x):
        h = F.max_pool2d(F.relu(F.conv2d(x, self.W1, self.b1, padding=3)), 2)
        h = F.relu(h.reshape(x.shape[0], -1) @ self.W2 + self.b2)
        return h @ self.W3 + self.b3


def load_cifar10(directory):
    """The course's get_CIFAR10_data(): 49,000 training and 1,000 validation images, (N, 3, 32, 32) float32,
    minus the training mean image (computed in float64, as gradstream's loadCifar10)."""
    records = []
    for i in range(1, 6):
        raw = np.fromfile(f"{directory}/data_batch_{i}.bin", dtype=np.uint8).reshape(10000, 3073)
        records.append(raw)
    raw = np.concatenate(records)
    labels = raw[:, 0].astype(np.int64)
    images = raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float64)
    x_train, x_val = images[:49000], images[49000:50000]
    mean = x_train.mean(axis=0)
    return ((x_train - mean).astype(np.float32), labels[:49000], (x_val - mean).astype(np.float32), labels[49000:])


def bench_epoch(directory):
    """One epoch of the course's convnet (hidden 500, reg 1e-3, weight scale 1e-3, Adam 1e-3, batch 50) with the
    course Solver's schedule: a fresh choice(49000, 50) batch per step, accuracy checks on the first and last step
    (1,000 sampled training images and the 1,000 validation images, batches of 100)."""
    x_train, y_train, x_val, y_val = load_cifar10(directory)
    x_train, x_val = torch.from_numpy(x_train), torch.from_numpy(x_val)
    y_train, y_val = torch.from_numpy(y_train), torch.from_numpy(y_val)
    rng = np.random.RandomState(0)
    model = ThreeLayerConvNet(500, 1e-3, rng)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    reg, batch, n = 1e-3, 50, x_train.shape[0]
    iterations = n // batch

    def accuracy(X, Y, samples):
        if samples is not None and X.shape[0] > samples:
            idx = torch.from_numpy(rng.choice(X.shape[0], samples))
            X, Y = X[idx], Y[idx]
        correct = 0
        with torch.no_grad():
            for i in range(0, X.shape[0], 100):
                correct += (model(X[i : i + 100]).argmax(dim=1) == Y[i : i + 100]).sum().item()
        return correct / X.shape[0]

    started = time.perf_counter()
    checks = []
    for t in range(iterations):
        idx = torch.from_numpy(rng.choice(n, batch))
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        loss = loss + 0.5 * reg * sum(w.pow(2).sum() for w in (model.W1, model.W2, model.W3))
        loss.backward()
        opt.step()
        if t == 0 or t == iterations - 1:
            checks.append((accuracy(x_train, y_train, 1000), accuracy(x_val, y_val, None)))
    ms = (time.perf_counter() - started) * 1e3
    return {"ms": [ms], "trainAcc": checks[-1][0], "valAcc": checks[-1][1], "checks": len(checks),
            "steps": iterations}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="gemm,conv,cnn,fc")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--fc-data", default="")
    parser.add_argument("--fc-reps", type=int, default=3)
    parser.add_argument("--cifar", default="")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = args.rows.split(",")
    out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if "gemm" in rows:
        out["gemm"] = bench_gemm(args.reps)
    if "conv" in rows:
        out["conv"] = bench_conv(args.reps)
    if "cnn" in rows:
        out["cnn"] = bench_cnn(args.reps)
    if "cnn500" in rows:
        out["cnn500"] = bench_cnn(max(3, args.reps * 2 // 3), hidden=500, reg=1e-3)
    if "epoch" in rows and args.cifar:
        out["epoch"] = bench_epoch(args.cifar)
    if "fc" in rows and args.fc_data:
        out["fc"] = bench_fc(args.fc_data, args.fc_reps)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
