#!/usr/bin/python3
"""The PyTorch peer of the real augmented training step (`shiftaddaug bench train --method netaug|augshift`).

NetAug's step as its code runs it: one set of wide weights; each step draws a width per layer and an expand ratio
per block from the model's lists (the same draw as pkg/models' SampleMasks), slices the weights to the drawn
channels and runs only those (the peer computes the active channels alone, which is what the engine's masked step
is compared with). One training step (Eq. 3): the target pass plus the augmented pass, L_t + alpha*L_a, one
Nesterov SGD update. For augshift, the target's slice of each layer runs DeepShift-Q (weights rounded to
+-2^p, p in [-15, 0]; activations to 16 fraction bits; straight-through gradients), after the HWS remap of Eq. 5
(Gaussian CDF -> Laplace PPF, per tensor) unless --sharing plain; the augmented channels multiply (Eq. 4).
Batch norm keeps separate running statistics for the two passes, as the project does.

The architecture comes from a model file (`shiftaddaug arch --model M --save FILE`), so both sides build the same
network: the wide sizes follow pkg/models (widths base x factor rounded half up; mid = expand x max expand x wide
input; identity-shortcut blocks keep their input width). Models with squeeze-excitation are not supported.

Needs Debian's python3-torch. Prints one JSON line like `bench train`'s: s_per_step, img_per_s, cpu_s_per_step,
peak_rss_mb.
"""
import argparse, json, math, os, random, resource, time

import torch
import torch.nn.functional as F


def rhu(v):
    return int(math.floor(v + 0.5))


p = argparse.ArgumentParser()
p.add_argument("--arch", required=True, help="model file written by `shiftaddaug arch --save`")
p.add_argument("--method", choices=["netaug", "augshift"], default="augshift")
p.add_argument("--sharing", choices=["plain", "hws"], default="hws", help="augshift's weight sharing")
p.add_argument("--sample", choices=["random", "max"], default="random")
p.add_argument("--res", type=int, default=32)
p.add_argument("--batch", type=int, default=128)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--warmup", type=int, default=2)
p.add_argument("--threads", type=int, default=0, help="0: all cores")
p.add_argument("--alpha", type=float, default=0.5, help="the project's default (train.DefaultAlpha); timing does not depend on it")
a = p.parse_args()
torch.set_num_threads(a.threads or os.cpu_count())
torch.manual_seed(0)
rng = random.Random(0)

m = json.load(open(a.arch))
if any(b.get("se", 0) for b in m["blocks"]):
    raise SystemExit("peer_netaug.py: squeeze-excitation blocks are not supported")
shift = a.method == "augshift"
hws = shift and a.sharing == "hws"
W = m.get("aug_width") or [1.0]
E = m.get("aug_expand") or [1.0]
mw, me = max(W), max(E)
classes = m["classifier"]["out"]


def param(*shape, fan_in):
    bound = 1 / math.sqrt(fan_in)
    return torch.nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


class BN:
    def __init__(self, c):
        self.g = torch.nn.Parameter(torch.ones(c))
        self.b = torch.nn.Parameter(torch.zeros(c))
        self.stats = {p: (torch.zeros(c), torch.ones(c)) for p in ("target", "aug")}

    def __call__(self, x, c, pas):
        rm, rv = self.stats[pas]
        return F.batch_norm(x, rm[:c], rv[:c], self.g[:c], self.b[:c], training=True, momentum=0.1, eps=1e-5)


# Wide sizes (pkg/models computeDims) and the layers' parameters.
stem = m["stem"]
stem_t, stem_w = stem["out"], rhu(stem["out"] * mw)
layers = {"stem": dict(w=param(stem_w, 3, stem["k"], stem["k"], fan_in=3 * stem["k"] ** 2), bn=BN(stem_w))}
dims = []  # per block: (in_t, in_w), (mid_t, mid_w), (out_t, out_w)
cin = (stem_t, stem_w)
for b in m["blocks"]:
    ratio = b["mid"] / b["in"]
    mid = (b["mid"], rhu(ratio * me * cin[1])) if b["expand"] else cin
    out = cin if b.get("residual") else (b["out"], rhu(b["out"] * mw))
    d = dict(dw=param(mid[1], 1, b["k"], b["k"], fan_in=b["k"] ** 2), dwbn=BN(mid[1]),
             pw=param(out[1], mid[1], 1, 1, fan_in=mid[1]), pwbn=BN(out[1]))
    if b["expand"]:
        d.update(ew=param(mid[1], cin[1], 1, 1, fan_in=cin[1]), ebn=BN(mid[1]))
    layers[b["name"]] = d
    dims.append((cin, mid, out, ratio))
    cin = out
heads = []
for h in m.get("head", []):
    out = (h["out"], rhu(h["out"] * mw))
    layers[h["name"]] = dict(w=param(out[1], cin[1], h["k"], h["k"], fan_in=cin[1] * h["k"] ** 2), bn=BN(out[1]))
    heads.append((cin, out))
    cin = out
fc_w = param(classes, cin[1], fan_in=cin[1])
fc_b = torch.nn.Parameter(torch.zeros(classes))


def ste(x, q):
    return x + (q - x).detach()


def shift_w(w):  # DeepShift-Q: sign(w)·2^round(log2|w|), exponent in [-15, 0]
    e = torch.clamp(torch.round(torch.log2(w.abs().clamp_min(1e-30))), -15, 0)
    return ste(w, torch.sign(w) * torch.pow(2.0, e))


def shift_x(x):  # 16 fraction bits, 16 integer bits, floor
    return ste(x, torch.clamp(torch.floor(x * 65536) / 65536, -32768, 32767))


def hws_remap(w):  # Eq. 5 with an identity FC (pkg/hybrid DefaultRemap)
    if not hws:
        return w
    mu = w.mean().detach()
    sigma = torch.sqrt(((w - mu) ** 2).mean() + 1e-12).detach()
    z = torch.clamp((w - mu) / sigma, -5, 5)
    tail = torch.clamp(1 - torch.erf(z.abs() / math.sqrt(2)), min=1e-7)
    mag = -torch.log(tail) * sigma / math.sqrt(2)
    return mu + torch.where(z >= 0, mag, -mag)


def mf_conv(x, w, stride, pad, groups=1):
    return F.conv2d(shift_x(x), shift_w(hws_remap(w)), stride=stride, padding=pad, groups=groups)


def conv(x, w, tin, tout, ain, aout, stride, aug):
    """Hybrid conv (Eq. 4) over the wide weight w [out_w, in_w, k, k]: target pass (tin -> tout) or the augmented
    pass's slice (ain -> aout)."""
    pad = w.shape[-1] // 2
    if not shift:
        return F.conv2d(x, w[:aout, :ain] if aug else w[:tout, :tin], stride=stride, padding=pad)
    if not aug:
        return mf_conv(x, w[:tout, :tin], stride, pad)
    yt = mf_conv(x[:, :tin], w[:tout, :tin], stride, pad)
    if ain > tin:
        yt = yt + F.conv2d(x[:, tin:ain], w[:tout, tin:ain], stride=stride, padding=pad)
    if aout == tout:
        return yt
    return torch.cat([yt, F.conv2d(x, w[tout:aout, :ain], stride=stride, padding=pad)], 1)


def dwconv(x, w, t, c, stride, aug):
    pad = w.shape[-1] // 2
    if not shift:
        return F.conv2d(x, w[:c], stride=stride, padding=pad, groups=c)
    if not aug:
        return mf_conv(x, w[:t], stride, pad, groups=t)
    yt = mf_conv(x[:, :t], w[:t], stride, pad, groups=t)
    if c == t:
        return yt
    return torch.cat([yt, F.conv2d(x[:, t:c], w[t:c], stride=stride, padding=pad, groups=c - t)], 1)


def linear(x, t, c, aug):
    if not shift:
        return F.linear(x, fc_w[:, :c], fc_b)
    y = F.linear(shift_x(x[:, :t]), shift_w(hws_remap(fc_w[:, :t])), fc_b)
    if aug and c > t:
        y = y + F.linear(x[:, t:c], fc_w[:, t:c])
    return y


def pick(lst):
    return max(lst) if a.sample == "max" else lst[rng.randrange(len(lst))]


def sample():
    """Active widths of one augmented draw, as pkg/models SampleMasks."""
    act = rhu(stem_t * pick(W))
    s = {"stem": act, "blocks": [], "heads": []}
    for b, (cin_, mid, out, ratio) in zip(m["blocks"], dims):
        a_in = act
        amid = max(rhu(ratio * pick(E) * a_in), mid[0]) if b["expand"] else a_in
        if not b.get("residual"):
            act = rhu(b["out"] * pick(W))
        s["blocks"].append((a_in, amid, act))
    for h in m.get("head", []):
        act = rhu(h["out"] * pick(W))
        s["heads"].append(act)
    return s


def forward(x, s, aug):
    pas = "aug" if aug else "target"
    L = layers["stem"]
    c = s["stem"] if aug else stem_t
    h = F.relu6(L["bn"](conv(x, L["w"], 3, stem_t, 3, c, stem["stride"], aug), c, pas))
    for i, b in enumerate(m["blocks"]):
        (cin_, mid, out, _), L = dims[i], layers[b["name"]]
        a_in, amid, aout = s["blocks"][i] if aug else (cin_[0], mid[0], out[0])
        x0 = h
        if b["expand"]:
            h = F.relu6(L["ebn"](conv(h, L["ew"], cin_[0], mid[0], a_in, amid, 1, aug), amid, pas))
        h = F.relu6(L["dwbn"](dwconv(h, L["dw"], mid[0], amid, b["stride"], aug), amid, pas))
        h = L["pwbn"](conv(h, L["pw"], mid[0], out[0], amid, aout, 1, aug), aout, pas)
        if b.get("residual"):
            h = h + x0
    cprev = out[0] if not aug else aout
    tprev = out[0]
    for j, h_ in enumerate(m.get("head", [])):
        (hin, hout), L = heads[j], layers[h_["name"]]
        c = s["heads"][j] if aug else hout[0]
        h = F.relu6(L["bn"](conv(h, L["w"], hin[0], hout[0], cprev, c, 1, aug), c, pas))
        cprev, tprev = c, hout[0]
    return linear(h.mean((2, 3)), tprev, cprev, aug)


params = [q for L in layers.values() for v in L.values() for q in ([v.g, v.b] if isinstance(v, BN) else [v])]
params += [fc_w, fc_b]
opt = torch.optim.SGD(params, lr=0.025, momentum=0.9, nesterov=True, weight_decay=4e-5)
x = torch.randn(a.batch, 3, a.res, a.res)
y = torch.randint(0, classes, (a.batch,))


def step():
    opt.zero_grad()
    loss = F.cross_entropy(forward(x, None, False), y, label_smoothing=0.1)
    loss = loss + a.alpha * F.cross_entropy(forward(x, sample(), True), y, label_smoothing=0.1)
    loss.backward()
    opt.step()


for _ in range(a.warmup):
    step()
t0, c0 = time.perf_counter(), time.process_time()
for _ in range(a.steps):
    step()
dt, cpu = (time.perf_counter() - t0) / a.steps, (time.process_time() - c0) / a.steps
print(json.dumps({"impl": "pytorch-" + torch.__version__, "model": m["name"], "method": a.method,
                  "sharing": a.sharing if shift else "", "sample": a.sample, "res": a.res, "batch": a.batch,
                  "threads": torch.get_num_threads(), "steps": a.steps, "s_per_step": round(dt, 4),
                  "cpu_s_per_step": round(cpu, 4), "img_per_s": round(a.batch / dt, 2),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
