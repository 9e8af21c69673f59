"""One comparator for the harnesses: a computed tensor against a reference.

Per element, |got - want| <= rtol * |want| + atol, where atol is `floor`
times the largest finite |want| of the tensor (sums of many terms cancel:
an element near zero carries the rounding of terms the size of its
neighbours). Non-finite values must agree exactly: NaN where the reference
has NaN and nowhere else, +inf and -inf where it has them.
"""
import numpy as np


class Verdict:
    def __init__(self, ok, ratio, message):
        self.ok, self.ratio, self.message = ok, ratio, message

    def __bool__(self):
        return self.ok


def compare(got, want, rtol=1e-4, floor=1e-5, scale=None, atol=0.0):
    """Verdict for one tensor; ratio is the worst |diff| / tolerance (inf for a
    mismatch of shape or of non-finite values). `scale` replaces max |want| as
    what `floor` is a fraction of (a gradient is rounded like the largest of
    its network's, not its own); `atol` (a number or an array of want's
    shape) is added to every element's tolerance."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return Verdict(False, float("inf"), f"shape {list(got.shape)} vs {list(want.shape)}")
    g_nan, w_nan = np.isnan(got), np.isnan(want)
    if (g_nan != w_nan).any():
        i = np.unravel_index(np.argmax(g_nan != w_nan), got.shape)
        return Verdict(False, float("inf"),
                       f"{int((g_nan & ~w_nan).sum())} NaN where the reference has a number and "
                       f"{int((w_nan & ~g_nan).sum())} numbers where it has NaN; first at "
                       f"{list(map(int, i))}: {got[i]} vs {want[i]}")
    g_inf, w_inf = np.isinf(got), np.isinf(want)
    bad_inf = (g_inf | w_inf) & ~(g_nan | w_nan) & ~((g_inf & w_inf) & (np.sign(got) == np.sign(want)))
    if bad_inf.any():
        i = np.unravel_index(np.argmax(bad_inf), got.shape)
        return Verdict(False, float("inf"),
                       f"{int(bad_inf.sum())} infinities differ; first at {list(map(int, i))}: "
                       f"{got[i]} vs {want[i]}")
    finite = np.isfinite(want)
    if not finite.any():
        return Verdict(True, 0.0, "no finite values; the non-finite ones agree")
    if scale is None:
        scale = float(np.abs(want[finite]).max())
    atol = np.broadcast_to(np.asarray(atol, dtype=np.float64), want.shape)[finite]
    tol = rtol * np.abs(want[finite]) + floor * scale + atol
    diff = np.abs(got[finite] - want[finite])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(tol > 0, diff / np.where(tol > 0, tol, 1), np.where(diff > 0, np.inf, 0))
    worst = int(np.argmax(ratios))
    ratio = float(ratios[worst])
    where = np.argwhere(finite)[worst]
    msg = (f"max |diff| {float(diff.max()):.3g}; worst at {list(map(int, where))}: "
           f"{got[tuple(where)]:.9g} vs {want[tuple(where)]:.9g} ({ratio:.3g} of its tolerance)")
    return Verdict(ratio <= 1.0, ratio, msg)
