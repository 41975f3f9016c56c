"""The training step of `upres train`, written in PyTorch: the reference that burn's CPU training
speed is measured against (issue 3).

Same network as src/model.rs (re-parameterisable blocks trained through their composed 3×3
kernel, PReLU, bicubic residual as a grouped 5×5 convolution, pixel shuffle), same batch and patch
shapes, L1 loss, Adam. Random tensors stand in for patches: `upres train` reports its network time
apart from its patch sampling, and this times the network alone too.

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install torch
    /tmp/ref/bin/python bench/reference_train_step.py --scale 4 --channels 32 --threads 1

Compare with the "ms/step" of `upres train` with the same --scale/--channels/--batch/--patch and
RAYON_NUM_THREADS equal to --threads, on an otherwise idle machine.
"""

import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RepBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        hidden = 2 * max(cin, cout)
        self.conv3 = nn.Conv2d(cin, cout, 3)
        self.conv1 = nn.Conv2d(cin, cout, 1)
        self.expand = nn.Conv2d(cin, hidden, 1)
        self.expand3 = nn.Conv2d(hidden, cout, 3)
        self.identity = cin == cout

    def kernel(self):
        w = self.conv3.weight + F.pad(self.conv1.weight, (1, 1, 1, 1))
        if self.identity:
            eye = torch.eye(w.shape[0]).reshape(w.shape[0], w.shape[1], 1, 1)
            w = w + F.pad(eye, (1, 1, 1, 1))
        composed = torch.einsum("omhw,mi->oihw", self.expand3.weight, self.expand.weight[:, :, 0, 0])
        expand_bias = self.expand3.weight.sum((2, 3)) @ self.expand.bias
        b = self.conv3.bias + self.conv1.bias + self.expand3.bias + expand_bias
        return w + composed, b

    def forward(self, x):
        w, b = self.kernel()
        return F.conv2d(x, w, b)


def bicubic_phases(scale):
    def cubic(x):
        x = abs(x)
        if x <= 1:
            return 1.5 * x**3 - 2.5 * x**2 + 1
        if x < 2:
            return -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2
        return 0.0

    taps = [[cubic((p + 0.5) / scale - 0.5 - (k - 2)) for k in range(5)] for p in range(scale)]
    kernel = [[[r * c for c in cols] for r in rows] for _ in range(3) for rows in taps for cols in taps]
    return torch.tensor(kernel).reshape(3 * scale * scale, 1, 5, 5)


class Net(nn.Module):
    def __init__(self, scale, channels, blocks):
        super().__init__()
        c = channels
        layers = [(3, c)] + [(c, c)] * blocks + [(c, 3 * scale * scale)]
        self.blocks = nn.ModuleList(RepBlock(i, o) for i, o in layers)
        self.activations = nn.ModuleList(nn.PReLU(c) for _ in range(blocks + 1))
        self.register_buffer("bicubic", bicubic_phases(scale))
        self.scale = scale

    def forward(self, input):
        x = input
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index < len(self.activations):
                x = self.activations[index](x)
        context, h, w = len(self.blocks), x.shape[2], x.shape[3]
        window = input[:, :, context - 2 : context + h + 2, context - 2 : context + w + 2]
        return F.pixel_shuffle(x + F.conv2d(window, self.bicubic, groups=3), self.scale)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)

    net = Net(args.scale, args.channels, args.blocks)
    optimizer = torch.optim.Adam(net.parameters(), lr=5e-4, eps=1e-8)
    side = args.patch + 2 * (args.blocks + 2)
    lr_batch = torch.rand(args.batch, 3, side, side)
    hr_batch = torch.rand(args.batch, 3, args.patch * args.scale, args.patch * args.scale)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = (net(lr_batch) - hr_batch).abs().mean()
        loss.backward()
        optimizer.step()

    for _ in range(5):
        step()
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    ms = (time.perf_counter() - started) * 1000 / args.steps
    print(
        f"pytorch {torch.__version__}, {args.threads} thread(s): ×{args.scale}, {args.channels} ch × {args.blocks}, "
        f"batch {args.batch}, patch {args.patch}: {ms:.1f} ms/step"
    )


if __name__ == "__main__":
    main()
