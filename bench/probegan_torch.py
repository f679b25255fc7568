#!/usr/bin/env python3
"""PyTorch-eager twin of probegan's 32x32 ProbeGAN iteration (configs/probegan_fmnist32.toml).

Same architecture (spectral-normalised residual G with class-conditional BN and nearest
upsampling; two-headed residual D with projection head D_c and linear head D_u), the same
losses (hinge on D_c, WGAN-GP with lambda=10 and 1e-4 drift on D_u, classifier CE) and the
same schedule (4 D steps + 1 G step, batch 64, Adam(0, 0.999), EMA). Inputs are random
tensors: this measures speed only. The classifier is a small CNN stand-in behind a bilinear
32->28 resize (as the adapter does).

    python3 bench/probegan_torch.py --steps 5 --threads 2
    python3 bench/probegan_torch.py --steps 20 --device cuda   # the GPU peer of `--device cuda`
Prints `s_per_it X` (median-free mean over --steps after one warm-up) and a component split.
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SN = nn.utils.spectral_norm


class CBN(nn.Module):
    def __init__(self, c, cond):
        super().__init__()
        self.bn = nn.BatchNorm2d(c, affine=False)
        self.gain = SN(nn.Linear(cond, c, bias=False))
        self.bias = SN(nn.Linear(cond, c, bias=False))

    def forward(self, x, e):
        n, c = x.shape[:2]
        return self.bn(x) * (1 + self.gain(e)).view(n, c, 1, 1) + self.bias(e).view(n, c, 1, 1)


class Up(nn.Module):
    def __init__(self, cin, cout, cond):
        super().__init__()
        self.bn1, self.bn2 = CBN(cin, cond), CBN(cout, cond)
        self.c1 = SN(nn.Conv2d(cin, cout, 3, padding=1))
        self.c2 = SN(nn.Conv2d(cout, cout, 3, padding=1))
        self.sc = SN(nn.Conv2d(cin, cout, 1))

    def forward(self, x, e):
        h = F.interpolate(F.relu(self.bn1(x, e)), scale_factor=2, mode="nearest")
        h = self.c2(F.relu(self.bn2(self.c1(h), e)))
        return h + self.sc(F.interpolate(x, scale_factor=2, mode="nearest"))


class G(nn.Module):
    def __init__(self, widths, z_dim, emb, k, ch):
        super().__init__()
        self.w0 = widths[0]
        self.emb = nn.Embedding(k, emb)
        self.lin = SN(nn.Linear(z_dim, widths[0] * 16))
        self.blocks = nn.ModuleList([Up(widths[i - 1], widths[i], emb) for i in range(1, len(widths))])
        self.bn = nn.BatchNorm2d(widths[-1])
        self.out = SN(nn.Conv2d(widths[-1], ch, 3, padding=1))

    def forward(self, z, y):
        e = self.emb(y)
        h = self.lin(z).view(z.shape[0], self.w0, 4, 4)
        for b in self.blocks:
            h = b(h, e)
        return torch.tanh(self.out(F.relu(self.bn(h))))


class Down(nn.Module):
    def __init__(self, cin, cout, down, preact):
        super().__init__()
        self.c1 = SN(nn.Conv2d(cin, cout, 3, padding=1))
        self.c2 = SN(nn.Conv2d(cout, cout, 3, padding=1))
        self.sc = SN(nn.Conv2d(cin, cout, 1)) if (cin != cout or down) else None
        self.down, self.preact = down, preact

    def forward(self, x):
        h = F.relu(x) if self.preact else x
        h = self.c2(F.relu(self.c1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        if self.sc is None:
            s = x
        elif not self.preact:
            s = self.sc(F.avg_pool2d(x, 2) if self.down else x)
        else:
            s = self.sc(x)
            s = F.avg_pool2d(s, 2) if self.down else s
        return h + s


class D(nn.Module):
    def __init__(self, widths, k, ch, res):
        super().__init__()
        downs = (res // 8).bit_length() - 1
        blocks, cin = [], ch
        for i, w in enumerate(widths):
            blocks.append(Down(cin, w, i < downs, i > 0))
            cin = w
        self.blocks = nn.ModuleList(blocks)
        self.head_c = SN(nn.Linear(cin, 1))
        self.proj = nn.Embedding(k, cin)
        self.head_u = SN(nn.Linear(cin, 1))

    def features(self, x):
        for b in self.blocks:
            x = b(x)
        return F.relu(x).sum((2, 3))

    def dc(self, h, y):
        return self.head_c(h).squeeze(1) + (h * self.proj(y)).sum(1)

    def du(self, h):
        return self.head_u(h).squeeze(1)


class Classifier(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3, padding=1)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc = nn.Linear(64 * 7 * 7, k)

    def forward(self, x):
        x = F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.fc(x.flatten(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--g-widths", default="64,32,32,32")
    ap.add_argument("--d-widths", default="32,32,32")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    # Every tensor and module below is created on --device.
    torch.set_default_device(a.device)
    sync = torch.cuda.synchronize if a.device.startswith("cuda") else (lambda: None)
    torch.manual_seed(0)
    k, n, zd, res, unseen = 10, a.batch, 64, 32, 1
    g = G([int(v) for v in a.g_widths.split(",")], zd, 64, k, 1)
    g_ema = G([int(v) for v in a.g_widths.split(",")], zd, 64, k, 1)
    g_ema.load_state_dict(g.state_dict())
    d = D([int(v) for v in a.d_widths.split(",")], k, 1, res)
    clf = Classifier(k).eval()
    for p in clf.parameters():
        p.requires_grad_(False)
    og = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.0, 0.999))
    od = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.0, 0.999))
    real_x = torch.rand(1000, 1, res, res) * 2 - 1
    real_y = torch.randint(0, k, (1000,))
    real_y[real_y == unseen] = 0
    times = {"d": 0.0, "g": 0.0, "ema": 0.0}

    def iteration():
        for p in d.parameters():
            p.requires_grad_(True)
        sync()
        t0 = time.perf_counter()
        for _ in range(4):
            idx = torch.randint(0, 1000, (n,))
            xr, yr = real_x[idx], real_y[idx]
            yf = torch.randint(0, k, (n,))
            with torch.no_grad():
                xf = g(torch.randn(n, zd), yf)
            h = d.features(torch.cat([xr, xf]))
            hr, hf = h[:n], h[n:]
            seen = (yf != unseen).float()
            loss = F.relu(1 - d.dc(hr, yr)).mean() + (F.relu(1 + d.dc(hf, yf)) * seen).sum() / seen.sum()
            ur, uf = d.du(hr), d.du(hf)
            loss = loss + uf.mean() - ur.mean() + 1e-4 * (ur.pow(2).mean() + uf.pow(2).mean())
            al = torch.rand(n, 1, 1, 1)
            xh = (al * xr + (1 - al) * xf).requires_grad_(True)
            out = d.du(d.features(xh))
            (gr,) = torch.autograd.grad(out.sum(), xh, create_graph=True)
            loss = loss + 10 * ((gr.flatten(1).norm(dim=1) - 1) ** 2).mean()
            od.zero_grad(set_to_none=True)
            loss.backward()
            od.step()
        sync()
        t1 = time.perf_counter()
        for p in d.parameters():
            p.requires_grad_(False)
        y = torch.randint(0, k, (n,))
        x = g(torch.randn(n, zd), y)
        h = d.features(x)
        seen = (y != unseen).float()
        du = d.du(h)
        loss = -(d.dc(h, y) * seen).sum() / seen.sum() - du.mean() + 1e-4 * du.pow(2).mean()
        loss = loss + F.cross_entropy(clf(x), y)
        og.zero_grad(set_to_none=True)
        loss.backward()
        og.step()
        sync()
        t2 = time.perf_counter()
        with torch.no_grad():
            for pe, p in zip(g_ema.parameters(), g.parameters()):
                pe.mul_(0.999).add_(p, alpha=0.001)
            for be, b in zip(g_ema.buffers(), g.buffers()):
                be.copy_(b)
        sync()
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2

    iteration()
    start = time.perf_counter()
    for _ in range(a.steps):
        dt, gt, et = iteration()
        times["d"] += dt
        times["g"] += gt
        times["ema"] += et
    sync()
    total = (time.perf_counter() - start) / a.steps
    print(f"torch {torch.__version__}, {a.device}, {a.threads} threads, batch {n}")
    print(f"torch split: D steps {times['d'] / a.steps:.3f} s, G step {times['g'] / a.steps:.3f} s, EMA {times['ema'] / a.steps:.3f} s")
    print(f"s_per_it {total:.4f}")


if __name__ == "__main__":
    main()
