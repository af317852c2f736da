"""Draw the figures of docs/results.md from the run outputs the seed configs write under runs/ (not committed:
rerun the configs named on that page to reproduce them). Each figure is drawn only when its inputs exist.

    python jobs/docs/results_plots.py [RUNS_DIR] [OUT_DIR]     # defaults: runs, docs/img
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _running_mean(x):
    out, s = [], 0.0
    for i, v in enumerate(x, 1):
        s += v
        out.append(s / i)
    return out


def plaquette_histories(runs, out, name, pairs, title):
    """Plaquette per trajectory and its running mean over the production phase, one panel per chain."""
    have = [(lab, os.path.join(runs, d, "hmc.jsonl")) for lab, d in pairs]
    if not all(os.path.exists(p) for _, p in have):
        return None
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for lab, p in have:
        recs = [r for r in _jsonl(p) if r.get("phase") == "prod"]
        t = list(range(len(recs)))
        pl = [r["plaquette"] for r in recs]
        ax[0].plot(t, pl, lw=0.6, label=lab)
        ax[1].plot(t, _running_mean(pl), label=lab)
    ax[0].set_xlabel("production trajectory")
    ax[0].set_ylabel("plaquette")
    ax[1].set_xlabel("production trajectory")
    ax[1].set_ylabel("running mean")
    for a in ax:
        a.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = os.path.join(out, name)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def wilson_loop_volumes(runs, out):
    """nmse against the test volume for every Wilson-loop run under runs/lcnn (trained on 4^4), the left panel,
    and the training curves, the right one."""
    d = os.path.join(runs, "lcnn")
    if not os.path.isdir(d):
        return None
    runs_ = sorted(f[:-5] for f in os.listdir(d) if f.endswith(".json"))
    if not runs_:
        return None
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, r in enumerate(runs_):
        s = json.load(open(os.path.join(d, r + ".json")))
        lab = f"{s.get('loop')} {s.get('optimizer') or 'adam'} ({s.get('n_weights')} weights)"
        col = f"C{i}"
        vol = [t["volume"][0] for t in s["test"]]
        ax[0].semilogy(vol, [max(t["nmse"], 1e-32) for t in s["test"]], "o-", color=col, label=lab)
        c = os.path.join(d, r + ".curve")
        if os.path.exists(c):
            xs, ys = zip(*[(int(l.split()[0]), float(l.split()[1])) for l in open(c) if l.strip()])
            ax[1].semilogy(xs, [max(y, 1e-32) for y in ys], color=col, label=lab)
    ax[0].set_xlabel("test lattice L (L^4), trained on 4^4")
    ax[0].set_ylabel("test nmse")
    ax[1].set_xlabel("training step (Adam) / iteration (ALS, blockwise)")
    ax[1].set_ylabel("train nmse")
    for a in ax:
        a.legend(fontsize=7)
    fig.suptitle("seed 001, Task 1: Wilson-loop regression (SU(3))", fontsize=10)
    fig.tight_layout()
    path = os.path.join(out, "seed001-wilson-loops.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fp_steps(runs, out):
    p = os.path.join(runs, "seed001-fp.json")
    if not os.path.exists(p):
        return None
    s = json.load(open(p))
    st = s["steps"]
    k = [x["step"] for x in st]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(k, [x["fp_residual_value"] for x in st], "o-", label="FP residual, values")
    ax.plot(k, [x["fp_residual_derivative"] for x in st], "s-", label="FP residual, derivatives")
    kf = [x["step"] for x in st if "fit_test_derivative_rel_error" in x]
    ax.plot(kf, [x["fit_test_derivative_rel_error"] for x in st if x["step"] in kf], "x--",
            label="fit error (held out), derivatives")
    ax.plot(kf, [x["fit_test_value_rel_error"] for x in st if x["step"] in kf], "+--",
            label="fit error (held out), values")
    ax.set_yscale("log")
    ax.set_xticks(k)
    ax.set_xlabel("FP step (0: Wilson on the fine side)")
    ax.set_ylabel("relative error")
    ax.legend(fontsize=8)
    ax.set_title("seed 001, Task 2b: the fixed-point iteration (SU(3), 4^4 / 8^4)", fontsize=10)
    fig.tight_layout()
    path = os.path.join(out, "seed001-fp.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv):
    runs = argv[1] if len(argv) > 1 else "runs"
    out = argv[2] if len(argv) > 2 else os.path.join("docs", "img")
    os.makedirs(out, exist_ok=True)
    made = [
        plaquette_histories(runs, out, "seed002-plaquette.png", [("HMC", "seed002-hmc"), ("SLHMC", "seed002-slhmc")],
                            "seed 002: SU(2) 4^4, beta 2.7, staggered Nf = 4, m = 0.3"),
        plaquette_histories(runs, out, "seed001-hmc.png", [("MD with the learned action", "seed001-hmc"),
                                                           ("plain HMC", "seed001-hmc-baseline")],
                            "seed 001, Task 3: SU(3) 8^4, Symanzik beta 4.2"),
        wilson_loop_volumes(runs, out),
        fp_steps(runs, out),
    ]
    for m in made:
        if m:
            print("wrote", m)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
