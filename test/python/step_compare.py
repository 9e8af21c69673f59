"""One training step of a compiled library against the reference backend's:
what each tensor after the step is compared with, and how strictly (shared by
test/fuzz/difftest.py and check_compiled_training.py)."""
import numpy as np

from numeric_compare import compare

# Per element |diff| <= RTOL * |want| + TRAIN_FLOOR * (the largest value of
# that kind in the network): a step's gradients are float32 sums over the
# batch and the map, through every layer's backward pass, so a gradient that
# cancels to near zero carries the rounding of the network's large ones.
RTOL, FLOOR, TRAIN_FLOOR = 1e-4, 2e-5, 1e-4


def check_step(got, want, before, lr, flags):
    """[(tensor, Verdict)] for a library's tensors after one training step
    against the reference's. Float32 gradients carry the rounding of the
    largest terms summed, so the floor of each kind of tensor is a fraction of
    the largest of that kind in the network:
      SGD parameters   their change in the step (-lr times the update), which
                       is what the kernels compute (against |w| a wrong
                       gradient hides in w's rounding), plus w's own rounding;
      Adam parameters  the step is lr * m / (sqrt(v) + eps): about lr for any
                       gradient well above eps, so rounding noise in a
                       gradient that is 0 in exact arithmetic becomes a step
                       of up to lr. Checked instead against the update the
                       library's own m and v give (the update kernel), while
                       m and v are checked against the reference (the
                       gradient);
      m, momentum      like the gradient; v like its square;
      running stats    each against its own largest value."""
    opt = flags[flags.index("--optimizer") + 1] if "--optimizer" in flags else "sgd"
    wd = float(flags[flags.index("--weight-decay") + 1]) if "--weight-decay" in flags else 0.0
    eps32 = float(np.finfo(np.float32).eps)
    kinds = {}
    for name in want:
        if name.endswith((".momentum", ".adam_m")):
            kinds[name] = "m"
        elif name.endswith(".adam_v"):
            kinds[name] = "v"
        elif name.endswith(("running_mean", "running_var")):
            kinds[name] = "stat"
        else:
            kinds[name] = "param"
    f64 = {k: np.asarray(v, np.float64) for k, v in want.items()}
    b64 = {k: np.asarray(v, np.float64) for k, v in before.items()}

    def largest(values):
        return max([float(np.abs(v[np.isfinite(v)]).max(initial=0)) for v in values] + [1e-30])

    scale_m = largest([f64[k] for k in want if kinds[k] == "m"])
    scale_v = largest([f64[k] for k in want if kinds[k] == "v"])
    scale_d = largest([f64[k] - b64[k] for k in want if kinds[k] == "param" and k in before])
    out = []
    for name in sorted(want):
        g, w = np.asarray(got[name], np.float64), f64[name]
        kind = kinds[name]
        if kind == "m":
            v = compare(g, w, RTOL, TRAIN_FLOOR, scale_m)
        elif kind == "v":
            v = compare(g, w, RTOL, TRAIN_FLOOR, scale_v)
        elif kind == "stat" or name not in before:
            v = compare(g, w, RTOL, FLOOR)
        elif opt in ("adam", "adamw"):
            p = b64[name]
            m, vv = np.asarray(got[name + ".adam_m"], np.float64), np.asarray(got[name + ".adam_v"], np.float64)
            beta1, beta2, adam_eps = 0.9, 0.999, 1e-8
            base = p * (1 - lr * wd) if opt == "adamw" else p
            expect = base - lr * (m / (1 - beta1)) / (np.sqrt(vv / (1 - beta2)) + adam_eps)
            # float32 arithmetic in the kernel: a few roundings of |w| and of the step.
            v = compare(g, expect, 0, 0, 1, atol=4 * eps32 * (np.abs(p) + lr))
        else:
            rounding = 2 * eps32 * np.abs(b64[name])
            v = compare(g - b64[name], w - b64[name], RTOL, TRAIN_FLOOR, scale_d, atol=rounding)
        out.append((name, v))
    return out
