"""Veil's DP-SGD against Opacus: step times and accuracy at the same privacy target.

Run by bench/dp_sgd_vs_opacus.sh, which installs torch and opacus, finds the Veil binary and
writes the train/test split this script reads:

    python bench/opacus_dp_sgd.py VEIL OUT_DIR [--quick]

OUT_DIR holds bc-{train,test}.csv (label `malignant`) and digits-{train,test}.csv (label
`digit`). Veil is run as a subprocess (`veil train ... --json`); Opacus in this process.

Conventions shared by both tools (Veil's DP-SGD, crates/veil-dp/src/sgd.rs):
* Poisson sampling with rate q = B/n, B = 128 the expected batch size, and round(1/q) steps
  per epoch; the clipped, noised gradient sum is divided by B (Opacus: `expected_batch_size`).
* Per-record clipping norm C = 1, RDP accounting, δ = 1e-5.
* Non-private baseline: shuffled batches of 128 (the last one smaller), ceil(n/B) per epoch.
"""
import csv
import datetime
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
import opacus
import torch
from opacus import GradSampleModule
from opacus.accountants import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier
from opacus.optimizers import DPOptimizer
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from torch import nn

warnings.filterwarnings("ignore")  # Opacus warns that secure_mode is off; we know.
torch.set_num_threads(2)  # the machine has 2 cores; Veil spreads its DP noise over both too

VEIL, OUT = sys.argv[1], sys.argv[2]
QUICK = "--quick" in sys.argv[3:]
SEEDS = [1, 2] if QUICK else [1, 2, 3, 4, 5]
TIMING_EPOCHS = 5 if QUICK else 20
TIMING_REPEATS = 3 if QUICK else 7
BATCH, CLIP, DELTA = 128, 1.0, 1e-5
# Part A times DP-SGD at a fixed noise multiplier: the cost of a step does not depend on σ,
# and a fixed σ keeps Veil's calibration search out of the measured time.
TIMING_SIGMA = 1.0

# (dataset, file prefix, label, model, Veil's model flags)
LOGREG = ("breast-cancer", "bc", "malignant", "logreg", ["--model", "logreg"])
MLP = ("digits", "digits", "digit", "mlp", ["--model", "mlp", "--hidden", "64"])
# Veil's learning rates (Adam): non-private defaults, and the defaults under --dp.
PLAIN_LR = {"logreg": 0.01, "mlp": 0.003}
DP_LR = {"logreg": 0.05, "mlp": 0.01}


# ---------------------------------------------------------------- data and models

def load(prefix, label, part):
    """Features and labels of OUT/prefix-part.csv (every column but the label is a feature)."""
    with open(f"{OUT}/{prefix}-{part}.csv") as f:
        rows = list(csv.reader(f))
    body = np.array(rows[1:], dtype=np.float64)
    j = rows[0].index(label)
    return np.delete(body, j, axis=1), body[:, j].astype(np.int64)


def standardized(prefix, label):
    """Train and test tensors, standardised with the training split's mean and standard
    deviation. This is NOT private (Veil's --dp standardisation is)."""
    xtr, ytr = load(prefix, label, "train")
    xte, yte = load(prefix, label, "test")
    mean, std = xtr.mean(axis=0), xtr.std(axis=0)
    std[std == 0] = 1.0
    f = lambda x: torch.tensor((x - mean) / std, dtype=torch.float32)
    return f(xtr), torch.tensor(ytr), f(xte), torch.tensor(yte)


def make_model(kind, features):
    """Logistic regression (one logit, sigmoid/BCE) or the 64-unit ReLU MLP with 10 outputs
    (softmax/cross-entropy): 31 and 4,810 parameters. torch's default initialisation."""
    if kind == "logreg":
        return nn.Linear(features, 1)
    return nn.Sequential(nn.Linear(features, 64), nn.ReLU(), nn.Linear(64, 10))


def loss_fn(kind):
    if kind == "logreg":
        bce = nn.BCEWithLogitsLoss()
        return lambda out, y: bce(out.squeeze(1), y.float())
    return nn.CrossEntropyLoss()


def accuracy(kind, model, x, y):
    with torch.no_grad():
        out = model(x)
        pred = (out.squeeze(1) > 0).long() if kind == "logreg" else out.argmax(dim=1)
    return (pred == y).float().mean().item()


# ---------------------------------------------------------------- batches

def schedule(n):
    """Veil's DP schedule: (q, steps per epoch)."""
    q = min(BATCH / n, 1.0)
    return q, max(round(1 / q), 1)


def poisson_batches(x, y, epochs):
    """Index batches from Opacus's Poisson sampler (the one its DPDataLoader uses), drawn up
    front so that the timed loop does no data loading."""
    q, per_epoch = schedule(len(x))
    sampler = UniformWithReplacementSampler(num_samples=len(x), sample_rate=q, steps=per_epoch)
    batches = []
    for _ in range(epochs):
        for idx in sampler:
            idx = torch.as_tensor(idx, dtype=torch.long)
            batches.append((x[idx], y[idx]))
    return batches


def shuffled_batches(x, y, epochs):
    """Non-private mini-batches: a fresh permutation per epoch, cut into batches of 128."""
    batches = []
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), BATCH):
            idx = perm[i:i + BATCH]
            batches.append((x[idx], y[idx]))
    return batches


# ---------------------------------------------------------------- Opacus training

def private_parts(model, optimizer, sigma, q):
    """Opacus's DP-SGD from its public parts, as PrivacyEngine.make_private assembles them,
    except that the sampling rate is Veil's q = B/n (make_private fixes q = 1/len(loader),
    which cannot equal 128/n here): per-sample gradients, clipping to C, Gaussian noise σ·C,
    division by the expected batch size, and an RDP accountant fed at every step."""
    model = GradSampleModule(model)
    optimizer = DPOptimizer(optimizer, noise_multiplier=sigma, max_grad_norm=CLIP,
                            expected_batch_size=BATCH)
    accountant = RDPAccountant()
    optimizer.attach_step_hook(accountant.get_optimizer_hook_fn(sample_rate=q))
    return model, optimizer, accountant


def run(kind, model, optimizer, batches):
    """The training loop; returns its wall-clock seconds."""
    loss = loss_fn(kind)
    start = time.perf_counter()
    for xb, yb in batches:
        optimizer.zero_grad(set_to_none=True)
        loss(model(xb), yb).backward()
        optimizer.step()
    return time.perf_counter() - start


def opacus_step_seconds(kind, x, y, dp, seed):
    """Seconds per step of one run of TIMING_EPOCHS epochs, DP-SGD or plain (Adam, Veil's
    learning rates): the median epoch's time over its steps. The first epoch is a warm-up,
    left out as for Veil; the median shrugs off an epoch slowed by other work."""
    torch.manual_seed(seed)
    model = make_model(kind, x.shape[1])
    if dp:
        batches = poisson_batches(x, y, TIMING_EPOCHS)
        opt = torch.optim.Adam(model.parameters(), lr=DP_LR[kind])
        model, opt, _ = private_parts(model, opt, TIMING_SIGMA, schedule(len(x))[0])
    else:
        batches = shuffled_batches(x, y, TIMING_EPOCHS)
        opt = torch.optim.Adam(model.parameters(), lr=PLAIN_LR[kind])
    per_epoch = len(batches) // TIMING_EPOCHS
    epochs = [batches[i:i + per_epoch] for i in range(0, len(batches), per_epoch)]
    return statistics.median(run(kind, model, opt, e) for e in epochs[1:]) / per_epoch


def opacus_matched(kind, data, epsilon, seed):
    """DP-SGD with Veil's --dp settings: q = 128/n, round(1/q) steps per epoch, 20 epochs,
    Adam at Veil's DP learning rate, C = 1, no weight decay, σ calibrated by RDP to (ε, δ)."""
    xtr, ytr, xte, yte = data
    torch.manual_seed(seed)
    q, per_epoch = schedule(len(xtr))
    steps = 20 * per_epoch
    sigma = get_noise_multiplier(target_epsilon=epsilon, target_delta=DELTA, sample_rate=q,
                                 steps=steps, accountant="rdp")
    model = make_model(kind, xtr.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=DP_LR[kind])
    model, opt, accountant = private_parts(model, opt, sigma, q)
    run(kind, model, opt, poisson_batches(xtr, ytr, 20))
    return accuracy(kind, model, xte, yte), sigma, accountant.get_epsilon(DELTA)


OPACUS_API_SGD = dict(lr=0.1, momentum=0.9)  # Veil's own --optimizer sgd defaults


def opacus_standard(kind, data, epsilon, seed):
    """Opacus as its tutorials use it: PrivacyEngine(accountant="rdp").make_private_with_epsilon
    on a DataLoader of batch 128 (Poisson sampling: q = 1/len(loader), 20 epochs), SGD with
    momentum, C = 1."""
    xtr, ytr, xte, yte = data
    torch.manual_seed(seed)
    model = make_model(kind, xtr.shape[1])
    opt = torch.optim.SGD(model.parameters(), **OPACUS_API_SGD)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xtr, ytr),
                                         batch_size=BATCH)
    engine = opacus.PrivacyEngine(accountant="rdp")
    model, opt, loader = engine.make_private_with_epsilon(
        module=model, optimizer=opt, data_loader=loader, target_epsilon=epsilon,
        target_delta=DELTA, epochs=20, max_grad_norm=CLIP, poisson_sampling=True)
    loss = loss_fn(kind)
    for _ in range(20):
        for xb, yb in loader:  # an empty Poisson batch still takes a (noise-only) step
            opt.zero_grad(set_to_none=True)
            loss(model(xb), yb).backward()
            opt.step()
    return accuracy(kind, model, xte, yte), opt.noise_multiplier, engine.get_epsilon(DELTA)


# ---------------------------------------------------------------- Veil

def veil_train(prefix, label, flags, seed, extra, log=False):
    """Veil's JSON report of one `veil train` run (and its -vv log on stderr if `log`)."""
    cmd = [VEIL, "train", "--data", f"{OUT}/{prefix}-train.csv",
           "--test-data", f"{OUT}/{prefix}-test.csv", "--label", label, *flags,
           "--seed", str(seed), "--json", "--out", f"{OUT}/veil.model", *extra]
    if log:
        cmd.insert(1, "-vv")
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    report = json.loads(done.stdout)
    return (report, done.stderr) if log else report


EPOCH_DONE = re.compile(r"^(\S+)Z .*epoch done .*epoch=(\d+)")


def veil_step_seconds(prefix, label, flags, n, dp, seed):
    """Veil's seconds per step in one run of TIMING_EPOCHS epochs, DP-SGD at the fixed σ or
    plain: the median epoch's time over its steps, epochs timed by the "epoch done" lines of
    its -vv log (microsecond timestamps; one line per epoch, so a few µs of logging count).
    This leaves out the first epoch (no end of epoch 0 is logged) and the one-off work that
    train_seconds also holds (private standardisation, the ε accountant). Also returns
    train_seconds and the number of steps."""
    extra = ["--batch-size", str(BATCH), "--epochs", str(TIMING_EPOCHS)]
    if dp:
        extra += ["--dp", "--delta", str(DELTA), "--noise-multiplier", str(TIMING_SIGMA)]
    report, log = veil_train(prefix, label, flags, seed, extra, log=True)
    ends = {}
    for line in log.splitlines():
        m = EPOCH_DONE.match(re.sub(r"\x1b\[[0-9;]*m", "", line))  # drop colours
        if m:
            ends[int(m[2])] = datetime.datetime.fromisoformat(m[1])
    steps = report["steps"] if dp else math.ceil(n / BATCH) * TIMING_EPOCHS
    epoch = statistics.median((ends[e] - ends[e - 1]).total_seconds()
                              for e in range(2, TIMING_EPOCHS + 1))
    return epoch / (steps / TIMING_EPOCHS), report["train_seconds"], steps


# ---------------------------------------------------------------- report

def us(s):
    return f"{s * 1e6:.1f} µs"


def faster(ratio):
    return f"Veil is {ratio:.1f}× faster" if ratio >= 1 else f"Veil is {1 / ratio:.1f}× slower"


def mean_sd(xs):
    return f"{statistics.mean(xs):.4f} ± {statistics.stdev(xs) if len(xs) > 1 else 0.0:.4f}"


cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
            if l.startswith("model name")), platform.machine())
print(f"machine: {cpu}, {os.cpu_count()} cores; torch {torch.__version__} "
      f"({torch.get_num_threads()} threads, float32), opacus {opacus.__version__}; "
      f"Veil: {VEIL} (float64)")
print(f"seeds {SEEDS}; expected batch {BATCH}, clipping norm {CLIP}, δ {DELTA}, RDP accounting"
      + (" [--quick]" if QUICK else ""))
summary = []

print(f"\n== A. Time per step: DP-SGD vs non-private, batch {BATCH}, {TIMING_EPOCHS} epochs ==")
print(f"Adam; DP at a fixed σ = {TIMING_SIGMA}. Best of {TIMING_REPEATS} runs per measurement, "
      f"the tools taking turns (the machine is shared: the minimum is the least disturbed). "
      f"Per run, the median epoch's time over its steps; both leave out the first epoch "
      f"(warm-up) and data loading: Veil timed by its per-epoch log timestamps, Opacus "
      f"timing its loop over batches drawn up front.")
load_avg = float(open("/proc/loadavg").read().split()[0])
print(f"load average before part A: {load_avg:.2f}"
      + ("  WARNING: other work is running; torch's two threads suffer most from it, so "
         "treat these times with care" if load_avg > 1.0 else ""))
for dataset, prefix, label, kind, flags in [LOGREG, MLP]:
    xtr, ytr, _, _ = standardized(prefix, label)
    n = len(xtr)
    name = f"{kind} {dataset}"
    best = {}  # (tool, dp) -> the smallest seconds per step seen
    for seed in range(1, TIMING_REPEATS + 1):
        for dp in [True, False]:
            per_step, train_seconds, steps = veil_step_seconds(prefix, label, flags, n, dp, seed)
            best[("veil", dp)] = min(per_step, best.get(("veil", dp), per_step))
            if dp:
                raw = train_seconds / steps
                best["veil raw"] = min(raw, best.get("veil raw", raw))
            per_step = opacus_step_seconds(kind, xtr, ytr, dp, seed)
            best[("opacus", dp)] = min(per_step, best.get(("opacus", dp), per_step))
    v_dp, v_plain, v_raw = best[("veil", True)], best[("veil", False)], best["veil raw"]
    o_dp, o_plain = best[("opacus", True)], best[("opacus", False)]
    q, per_epoch = schedule(n)
    print(f"{name}: n = {n}, q = {q:.4f}, {per_epoch} DP steps / {math.ceil(n / BATCH)} "
          f"plain steps per epoch")
    row = lambda what, value: print(f"{name}: {what:<33} {value}")
    row("Veil DP step", us(v_dp))
    row("Veil DP step incl. one-off work", f"{us(v_raw)} (train_seconds / steps: private "
        f"standardisation and the ε accountant included)")
    row("Veil plain step", us(v_plain))
    row("Veil overhead (DP / plain)", f"{v_dp / v_plain:.1f}×")
    row("Opacus DP step", us(o_dp))
    row("Opacus plain step", us(o_plain))
    row("Opacus overhead (DP / plain)", f"{o_dp / o_plain:.1f}×")
    row("Opacus DP step / Veil DP step", f"{o_dp / v_dp:.1f}× ({faster(o_dp / v_dp)})")
    summary.append(f"A {name}: DP step Veil {us(v_dp)} vs Opacus {us(o_dp)} → "
                   f"{faster(o_dp / v_dp)}; DP overhead Veil {v_dp / v_plain:.1f}×, "
                   f"Opacus {o_dp / o_plain:.1f}×")

print(f"\n== B. Test accuracy at the same (ε, δ = {DELTA}), same split, seeds {SEEDS} ==")
print("Veil: `train --dp --epsilon E --delta 1e-5 --seed S` and its --dp defaults (Adam, "
      "batch 128, 20 epochs, lr 0.05 linear / 0.01 MLP, C = 1, private standardisation "
      "that spends part of ε).")
print("Veil draws its DP batches and noise from the OS's generator (the seed sets only the "
      "initial weights), so its DP runs do not repeat; Opacus's are seeded by torch.manual_seed.")
print("Opacus (matched): Veil's settings exactly (q = 128/n, same steps, Adam at the same lr, "
      "C = 1, RDP), from Opacus's GradSampleModule, DPOptimizer, RDPAccountant and sampler.")
print(f"Opacus (make_private_with_epsilon): DataLoader batch 128, Poisson sampling "
      f"(q = 1/len(loader)), 20 epochs, SGD lr {OPACUS_API_SGD['lr']} momentum "
      f"{OPACUS_API_SGD['momentum']}, C = 1, accountant rdp.")
print("Both Opacus runs standardise with the training split's exact mean and deviation: NOT "
      "private, and all of ε goes to SGD.")
for (dataset, prefix, label, kind, flags), epsilon in [(LOGREG, 1.0), (LOGREG, 8.0), (MLP, 3.0)]:
    data = standardized(prefix, label)
    name = f"{kind} {dataset} ε={epsilon:g}"
    veil = [veil_train(prefix, label, flags, s,
                       ["--dp", "--epsilon", str(epsilon), "--delta", str(DELTA)])
            for s in SEEDS]
    matched = [opacus_matched(kind, data, epsilon, s) for s in SEEDS]
    standard = [opacus_standard(kind, data, epsilon, s) for s in SEEDS]
    v_acc = [r["test_accuracy"] for r in veil]
    m_acc = [r[0] for r in matched]
    s_acc = [r[0] for r in standard]
    print(f"{name}: Veil                                {mean_sd(v_acc)}  per seed "
          f"{[round(a, 4) for a in v_acc]}  σ {veil[0]['noise_multiplier']:.3f}, q "
          f"{veil[0]['sampling_rate']:.4f}, {veil[0]['steps']} steps, ε spent "
          f"{max(r['epsilon_spent'] for r in veil):.4f}")
    print(f"{name}: Opacus (matched)                    {mean_sd(m_acc)}  per seed "
          f"{[round(a, 4) for a in m_acc]}  σ {matched[0][1]:.3f}, ε spent "
          f"{max(r[2] for r in matched):.4f}")
    print(f"{name}: Opacus (make_private_with_epsilon)  {mean_sd(s_acc)}  per seed "
          f"{[round(a, 4) for a in s_acc]}  σ {standard[0][1]:.3f}, ε spent "
          f"{max(r[2] for r in standard):.4f}")
    line = (f"B {name}: mean accuracy Veil {statistics.mean(v_acc):.4f}, Opacus matched "
            f"{statistics.mean(m_acc):.4f}, Opacus make_private_with_epsilon "
            f"{statistics.mean(s_acc):.4f}")
    if kind == "mlp":
        # Diagnostic beyond the brief: the same Veil run without its (private) feature
        # standardisation, since the digits pixels are already on a 0–16 scale.
        raw = [veil_train(prefix, label, flags, s, ["--dp", "--epsilon", str(epsilon),
                                                    "--delta", str(DELTA), "--no-standardize"])
               for s in SEEDS]
        r_acc = [r["test_accuracy"] for r in raw]
        print(f"{name}: Veil --no-standardize (diagnostic)  {mean_sd(r_acc)}  per seed "
              f"{[round(a, 4) for a in r_acc]}  σ {raw[0]['noise_multiplier']:.3f}")
        line += f"; Veil --no-standardize {statistics.mean(r_acc):.4f}"
    summary.append(line)

print("\n== Summary ==")
for line in summary:
    print(line)
