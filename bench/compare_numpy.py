"""numpy side of bench/compare.ts: the course's im2col approach in plain numpy.

Ports cs231n/im2col.py (index-based im2col / col2im with np.add.at) and the
conv_forward_im2col / conv_backward_im2col and max_pool_*_reshape functions
of cs231n/fast_layers.py, with the Cython im2col replaced by the plain numpy
one, and times the same work as bench/compare.ts (float32 throughout):

  gemm   1024^3 matrix product
  conv   forward + backward, x (100, 3, 31, 31), w (25, 3, 3, 3), stride 2, pad 1
  cnn    ThreeLayerConvNet step, batch 50 (32 filters 7x7, hidden 100): loss,
         gradients (no gradient of the input) and an Adam update
  cnn500 the same step with the course's hidden 500 and reg 1e-3

Run by bench/compare.ts as
  OPENBLAS_NUM_THREADS=t OMP_NUM_THREADS=t /usr/bin/python3 bench/compare_numpy.py --rows gemm,conv,cnn
It prints one JSON object on its last line: {"gemm": {"gflops": [...]}, "conv": {"ms": [...]}, ...}
with every timed repetition (after warm-up). Threads come from the environment
(numpy has no thread API): OpenBLAS reads OPENBLAS_NUM_THREADS at load.
"""

import argparse
import json
import time

import numpy as np


def get_im2col_indices(x_shape, field_height, field_width, padding=1, stride=1):
    N, C, H, W = x_shape
    out_height = (H + 2 * padding - field_height) // stride + 1
    out_width = (W + 2 * padding - field_width) // stride + 1
    i0 = np.repeat(np.arange(field_height), field_width)
    i0 = np.tile(i0, C)
    i1 = stride * np.repeat(np.arange(out_height), out_width)
    j0 = np.tile(np.arange(field_width), field_height * C)
    j1 = stride * np.tile(np.arange(out_width), out_height)
    i = i0.reshape(-1, 1) + i1.reshape(1, -1)
    j = j0.reshape(-1, 1) + j1.reshape(1, -1)
    k = np.repeat(np.arange(C), field_height * field_width).reshape(-1, 1)
    return (k, i, j)


def im2col_indices(x, field_height, field_width, padding=1, stride=1):
    p = padding
    x_padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode="constant")
    k, i, j = get_im2col_indices(x.shape, field_height, field_width, padding, stride)
    cols = x_padded[:, k, i, j]
    C = x.shape[1]
    return cols.transpose(1, 2, 0).reshape(field_height * field_width * C, -1)


def col2im_indices(cols, x_shape, field_height=3, field_width=3, padding=1, stride=1):
    N, C, H, W = x_shape
    H_padded, W_padded = H + 2 * padding, W + 2 * padding
    x_padded = np.zeros((N, C, H_padded, W_padded), dtype=cols.dtype)
    k, i, j = get_im2col_indices(x_shape, field_height, field_width, padding, stride)
    cols_reshaped = cols.reshape(C * field_height * field_width, -1, N)
    cols_reshaped = cols_reshaped.transpose(2, 0, 1)
    np.add.at(x_padded, (slice(None), k, i, j), cols_reshaped)
    if padding == 0:
        return x_padded
    return x_padded[:, :, padding:-padding, padding:-padding]


def conv_forward_im2col(x, w, b, conv_param):
    N, C, H, W = x.shape
    num_filters, _, filter_height, filter_width = w.shape
    stride, pad = conv_param["stride"], conv_param["pad"]
    out_height = (H + 2 * pad - filter_height) // stride + 1
    out_width = (W + 2 * pad - filter_width) // stride + 1
    x_cols = im2col_indices(x, filter_height, filter_width, pad, stride)
    res = w.reshape((w.shape[0], -1)).dot(x_cols) + b.reshape(-1, 1)
    out = res.reshape(w.shape[0], out_height, out_width, x.shape[0]).transpose(3, 0, 1, 2)
    return out, (x, w, b, conv_param, x_cols)


def conv_backward_im2col(dout, cache, need_dx=True):
    x, w, b, conv_param, x_cols = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    db = np.sum(dout, axis=(0, 2, 3))
    num_filters, _, filter_height, filter_width = w.shape
    dout_reshaped = dout.transpose(1, 2, 3, 0).reshape(num_filters, -1)
    dw = dout_reshaped.dot(x_cols.T).reshape(w.shape)
    dx = None
    if need_dx:
        dx_cols = w.reshape(num_filters, -1).T.dot(dout_reshaped)
        dx = col2im_indices(dx_cols, x.shape, filter_height, filter_width, pad, stride)
    return dx, dw, db


def max_pool_forward_reshape(x, pool_param):
    N, C, H, W = x.shape
    ph, pw = pool_param["pool_height"], pool_param["pool_width"]
    x_reshaped = x.reshape(N, C, H // ph, ph, W // pw, pw)
    out = x_reshaped.max(axis=3).max(axis=4)
    return out, (x, x_reshaped, out)


def max_pool_backward_reshape(dout, cache):
    x, x_reshaped, out = cache
    dx_reshaped = np.zeros_like(x_reshaped)
    out_newaxis = out[:, :, :, np.newaxis, :, np.newaxis]
    mask = x_reshaped == out_newaxis
    dout_newaxis = dout[:, :, :, np.newaxis, :, np.newaxis]
    dout_broadcast, _ = np.broadcast_arrays(dout_newaxis, dx_reshaped)
    dx_reshaped[mask] = dout_broadcast[mask]
    dx_reshaped /= np.sum(mask, axis=(3, 5), keepdims=True)
    return dx_reshaped.reshape(x.shape)


def softmax_loss(x, y):
    shifted = x - np.max(x, axis=1, keepdims=True)
    Z = np.sum(np.exp(shifted), axis=1, keepdims=True)
    log_probs = shifted - np.log(Z)
    probs = np.exp(log_probs)
    N = x.shape[0]
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx


def adam(w, dw, config):
    config["t"] += 1
    config["m"] = config["beta1"] * config["m"] + (1 - config["beta1"]) * dw
    config["v"] = config["beta2"] * config["v"] + (1 - config["beta2"]) * dw * dw
    mb = config["m"] / (1 - config["beta1"] ** config["t"])
    vb = config["v"] / (1 - config["beta2"] ** config["t"])
    return w - config["learning_rate"] * mb / (np.sqrt(vb) + config["epsilon"])


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
    rng = np.random.RandomState(0)
    n = 1024
    a = rng.randn(n, n).astype(np.float32)
    b = rng.randn(n, n).astype(np.float32)
    ms = timed(lambda: a @ b, 3, reps)
    return {"ms": ms, "gflops": [2 * n**3 / (t / 1e3) / 1e9 for t in ms]}


def bench_conv(reps):
    rng = np.random.RandomState(0)
    x = rng.randn(100, 3, 31, 31).astype(np.float32)
    w = rng.randn(25, 3, 3, 3).astype(np.float32)
    b = rng.randn(25).astype(np.float32)
    dout = rng.randn(100, 25, 16, 16).astype(np.float32)
    param = {"stride": 2, "pad": 1}

    def step():
        _, cache = conv_forward_im2col(x, w, b, param)
        conv_backward_im2col(dout, cache)

    return {"ms": timed(step, 2, reps)}


def bench_cnn(reps, hidden=100, reg=0.0):
    rng = np.random.RandomState(0)
    N, F, fs = 50, 32, 7
    X = rng.randn(N, 3, 32, 32).astype(np.float32)
    y = np.arange(N) % 10
    params = {
        "W1": (1e-3 * rng.randn(F, 3, fs, fs)).astype(np.float32),
        "b1": np.zeros(F, np.float32),
        "W2": (1e-3 * rng.randn(F * 16 * 16, hidden)).astype(np.float32),
        "b2": np.zeros(hidden, np.float32),
        "W3": (1e-3 * rng.randn(hidden, 10)).astype(np.float32),
        "b3": np.zeros(10, np.float32),
    }
    configs = {
        k: {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "t": 0,
            "m": np.zeros_like(v), "v": np.zeros_like(v)}
        for k, v in params.items()
    }
    conv_param = {"stride": 1, "pad": (fs - 1) // 2}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

    def step():
        p = params
        c, conv_cache = conv_forward_im2col(X, p["W1"], p["b1"], conv_param)
        r = np.maximum(c, 0)
        h1, pool_cache = max_pool_forward_reshape(r, pool_param)
        flat = h1.reshape(N, -1)
        a2 = flat.dot(p["W2"]) + p["b2"]
        h2 = np.maximum(a2, 0)
        scores = h2.dot(p["W3"]) + p["b3"]
        loss, dscores = softmax_loss(scores, y)
        grads = {"W3": h2.T.dot(dscores) + reg * p["W3"], "b3": dscores.sum(axis=0)}
        dh2 = dscores.dot(p["W3"].T) * (a2 > 0)
        grads["W2"] = flat.T.dot(dh2) + reg * p["W2"]
        grads["b2"] = dh2.sum(axis=0)
        dflat = dh2.dot(p["W2"].T).reshape(h1.shape)
        dr = max_pool_backward_reshape(dflat, pool_cache) * (c > 0)
        # The input needs no gradient: skipped here as in gradstream's model and PyTorch's autograd.
        _, grads["W1"], grads["b1"] = conv_backward_im2col(dr, conv_cache, need_dx=False)
        grads["W1"] = grads["W1"] + reg * p["W1"]
        loss += 0.5 * reg * sum(np.sum(p[k] * p[k]) for k in ("W1", "W2", "W3"))
        for k in params:
            params[k] = adam(params[k], grads[k].astype(np.float32), configs[k]).astype(np.float32)
        return loss

    return {"ms": timed(step, 2, reps)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="gemm,conv,cnn")
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    rows = args.rows.split(",")
    out = {"numpy": np.__version__}
    if "gemm" in rows:
        out["gemm"] = bench_gemm(args.reps)
    if "conv" in rows:
        out["conv"] = bench_conv(args.reps)
    if "cnn" in rows:
        out["cnn"] = bench_cnn(max(3, args.reps // 2))
    if "cnn500" in rows:
        out["cnn500"] = bench_cnn(max(3, args.reps // 3), hidden=500, reg=1e-3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
