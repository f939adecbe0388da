#!/usr/bin/env python3
"""The PyTorch twin of `mlc train` on Fashion-MNIST (bench/train.ts runs both side by side).

    /usr/bin/python3 test/oracle/train_fashion.py --model cnn --config '{"batch":32}' \\
        --weights init.safetensors --order order.bin --epochs 2 --data /usr/share/datasets/fashion-mnist \\
        --optimizer '{"kind":"sgd","lr":0.05,"momentum":0.9}' [--lr-schedule cosine] [--threads 1]

Same model (twins.py), same initial weights (--weights: the params mlc's bundle starts from), same
optimizer (torch.optim, run_twin.make_optimizer) and learning-rate schedule (--lr-schedule: constant,
or cosine as mlc's compiler/cli/train/schedule.ts, set before every step), same batch and the same data order (--order: the
int32 sample indices of every epoch that mlc train visits, epochs x steps x batch, from its seeded
permutation), pixels scaled as mlc scales u8 data (x * (1/255) in float64, rounded to float32).
The data is loaded whole into tensors before timing (PyTorch's fastest path: no DataLoader); the
training loop is timed alone, single-threaded by default. Prints one line of JSON: test accuracy and
loss, training samples/s and seconds, and samples per CPU-second (time.process_time(): the process's
CPU time, steady when the machine is shared). --time-steps N only times N steps (the speed rounds).
"""

import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from run_twin import load_weights, make_optimizer  # noqa: E402
from twins import get_twin  # noqa: E402


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def images_of(u8):
    return torch.from_numpy((u8.astype(np.float64) * (1 / 255)).astype(np.float32).reshape(-1, 28, 28, 1))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="cnn")
    p.add_argument("--config", default="{}")
    p.add_argument("--weights", required=True)
    p.add_argument("--order", required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--optimizer", required=True)
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--time-steps", type=int, default=0, help="only time this many steps (no evaluation)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    twin = get_twin(args.model)
    cfg = twin.config(json.loads(args.config))
    batch = cfg["batch"]
    params, _ = load_weights(args.weights, twin, cfg, "f32")
    trainable = [t for t in params.values() if t.requires_grad]
    optimizer = make_optimizer(json.loads(args.optimizer), trainable)

    d = args.data
    x_train = images_of(read_idx(os.path.join(d, "train-images-idx3-ubyte.gz")))
    y_train = torch.from_numpy(read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz")).astype(np.int64))
    x_test = images_of(read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz")))
    y_test = torch.from_numpy(read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz")).astype(np.int64))
    order = torch.from_numpy(np.fromfile(args.order, dtype=np.int32).astype(np.int64)).view(args.epochs, -1)
    steps = order.shape[1] // batch

    base_lr = optimizer.param_groups[0]["lr"]
    total_steps = args.epochs * steps

    def lr_at(t):
        return base_lr if args.lr_schedule == "constant" else base_lr * 0.5 * (1 + math.cos(math.pi * t / total_steps))

    if args.time_steps:
        start, cpu = time.perf_counter(), time.process_time()
        for s in range(args.time_steps):
            idx = order[0, (s % steps) * batch:(s % steps + 1) * batch]
            optimizer.zero_grad(set_to_none=True)
            loss = twin.forward(cfg, params, {"images": x_train[idx], "labels": y_train[idx]}, 0)["loss"]
            loss.backward()
            optimizer.step()
            loss.item()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(json.dumps({"samplesPerSecond": args.time_steps * batch / seconds, "trainSeconds": seconds,
                          "samplesPerCpuSecond": args.time_steps * batch / cpu, "cpuSeconds": cpu, "steps": args.time_steps}))
        return

    start, cpu = time.perf_counter(), time.process_time()
    last = 0.0
    for epoch in range(args.epochs):
        total = 0.0
        for s in range(steps):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(epoch * steps + s)
            idx = order[epoch, s * batch:(s + 1) * batch]
            optimizer.zero_grad(set_to_none=True)
            loss = twin.forward(cfg, params, {"images": x_train[idx], "labels": y_train[idx]}, 0)["loss"]
            loss.backward()
            optimizer.step()
            total += loss.item()
        last = total / steps
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu

    correct, loss_sum = 0, 0.0
    with torch.no_grad():
        n = x_test.shape[0]
        for s in range(0, n, batch):
            x, y = x_test[s:s + batch], y_test[s:s + batch]
            rows = x.shape[0]
            if rows < batch:  # pad like mlc's evaluation; padded rows are not counted
                x = torch.cat([x, torch.zeros(batch - rows, 28, 28, 1)])
                y = torch.cat([y, torch.zeros(batch - rows, dtype=torch.int64)])
            logits = twin.forward(cfg, params, {"images": x, "labels": y}, 0)["logits"][:rows]
            correct += int((logits.argmax(1) == y[:rows]).sum())
            loss_sum += float(F.cross_entropy(logits.double(), y[:rows], reduction="sum"))
    print(json.dumps({
        "accuracy": correct / n, "correct": correct, "loss": loss_sum / n, "trainLoss": last,
        "trainSeconds": seconds, "samplesPerSecond": args.epochs * steps * batch / seconds,
        "cpuSeconds": cpu, "samplesPerCpuSecond": args.epochs * steps * batch / cpu,
        "steps": args.epochs * steps, "threads": torch.get_num_threads(), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
