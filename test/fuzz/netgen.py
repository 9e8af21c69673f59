"""Random valid cnnc networks for differential testing (difftest.py).

generate(seed, mode) returns a network spec (a dict to write as JSON) drawn
over every op and attribute range the spec allows: convolutions with
kernels 1-7 (rectangular too), strides 1-4, pads 0-3, per-side pads and
"same", dilations, grouped and depthwise; channel counts 1-70 (odd ones,
non-multiples of every vector width, and the multiples of 8 and 16 that the
blocked and Winograd kernels take); maps from 1x1 to 40x40 (tails of every
tile size); batch 1-3; every activation (fused as an epilogue or not); batch
norm before and after convolutions; residual adds of two or three operands;
concatenations on every axis, nested; max and average pooling with padding,
ceil_mode and count_include_pad; global pooling, LRN, softmax on any axis,
dropout of both scalings, flatten and linear heads; several inputs and
outputs. Every draw comes from one seeded SplitMix64 stream, so a seed is the
same network on every machine and Python version.

The generator tracks shapes with cnnc's own rules (shape_inference.cpp), so
every network it makes is valid: cnnc rejecting one is a failure too.

mode "training": one output, a loss cnnc's autodiff accepts (cross-entropy on
the logits [N, K] of a linear head, with or without a final softmax, or
mean-squared error on any output), and only layers compiled training takes.
"""
import math

MASK = (1 << 64) - 1


class Rng:
    """SplitMix64: the same numbers on every machine and Python version."""

    def __init__(self, seed):
        # The seed goes through the output mix first: states seed * gamma
        # would make seed s + 1's stream seed s's shifted by one draw.
        self.state = 0x632BE59BD9B4E019 ^ (seed & MASK)
        self.state = self.u64()

    def u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self):
        return (self.u64() >> 11) * (1.0 / (1 << 53))

    def int(self, lo, hi):
        """An integer in [lo, hi]."""
        return lo + self.u64() % (hi - lo + 1)

    def chance(self, p):
        return self.uniform() < p

    def choice(self, items):
        return items[self.u64() % len(items)]

    def weighted(self, table):
        """table: [(weight, value)]."""
        total = sum(w for w, _ in table)
        x = self.uniform() * total
        for w, v in table:
            x -= w
            if x < 0:
                return v
        return table[-1][1]

    def real(self, lo, hi):
        return lo + (hi - lo) * self.uniform()

    def log_real(self, lo, hi):
        return math.exp(self.real(math.log(lo), math.log(hi)))


def round_real(x):
    """A float that prints short and reads back exactly."""
    return float(f"{x:.4g}")


def window_extent(size, k, s, p0, p1, d=1, ceil_mode=False):
    """Output extent of a window op, as ir::window_output_extent (0: none)."""
    padded = size + p0 + p1
    k_eff = d * (k - 1) + 1
    if k_eff > padded:
        return 0
    span = padded - k_eff
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p0:
        out -= 1
    return out


ACTIVATIONS = ["relu", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "tanh", "clip"]

# Keep the reference backend (double precision, naive loops) and the
# compiled kernels' build time small: the most multiply-adds one conv or
# linear layer may do, and the largest tensor.
MAX_MACS = 6_000_000
MAX_ELEMENTS = 200_000


class Net:
    def __init__(self, rng, mode):
        self.rng, self.mode = rng, mode
        self.layers = []
        self.inputs = {}
        self.shapes = {}  # value name -> shape
        self.order = []  # values in creation order
        self.count = 0

    def name(self, kind):
        self.count += 1
        return f"{kind}{self.count}"

    def add_input(self, shape):
        name = "data" if not self.inputs else f"in{len(self.inputs)}"
        self.inputs[name] = {"shape": shape}
        self.shapes[name] = shape
        self.order.append(name)
        return name

    def layer(self, kind, inputs, shape, **attrs):
        name = self.name(kind[:4].rstrip("_"))
        spec = {"name": name, "type": kind}
        if len(inputs) == 1:
            spec["input"] = inputs[0]
        else:
            spec["inputs"] = list(inputs)
        spec.update(attrs)
        self.layers.append(spec)
        self.shapes[name] = shape
        self.order.append(name)
        return name

    # -- attribute draws ---------------------------------------------------

    def channels(self):
        r = self.rng
        return r.weighted([(3, lambda: r.int(1, 70)), (2, lambda: 8 * r.int(1, 8)),
                           (2, lambda: 16 * r.int(1, 4)), (1, lambda: r.choice([1, 2, 3, 5, 7]))])()

    def hw_attr(self, h, w):
        """An int, or [h, w] when they differ (sometimes also when equal)."""
        if h == w and self.rng.chance(0.8):
            return h
        return [h, w]

    # -- layers ------------------------------------------------------------

    def conv(self, x, filters=None, keep_size=False, training=False):
        r = self.rng
        n, c, h, w = self.shapes[x]
        groups = 1
        kind = r.weighted([(7, "dense"), (2, "depthwise"), (1, "grouped")])
        if filters is None:
            filters = self.channels()
        if kind == "depthwise" and c > 1:
            groups = c
            filters = c * r.weighted([(4, 1), (1, 2)])
        elif kind == "grouped":
            divisors = [g for g in range(2, c + 1) if c % g == 0]
            if divisors:
                groups = r.choice(divisors)
                filters = groups * max(1, filters // groups)
        attrs = {"filters": filters}
        if keep_size:
            k = r.choice([1, 3, 5])
            kh, kw = k, k
            attrs["kernel"] = k
            attrs["pad"] = r.choice([(k - 1) // 2, "same"])
            sh = sw = 1
            dh = dw = 1
        else:
            dh = dw = 1
            if r.chance(0.15):
                dh = r.int(1, 3)
                dw = dh if r.chance(0.7) else r.int(1, 3)
            kh = r.weighted([(3, 1), (5, 3), (1, 2), (2, 5), (1, 7), (1, 4), (1, 6)])
            kw = kh if r.chance(0.75) else r.int(1, 7)
            sh = r.weighted([(6, 1), (3, 2), (1, 3), (1, 4)])
            sw = sh if r.chance(0.8) else r.int(1, 4)
            pad_kind = r.weighted([(4, "int"), (2, "hw"), (2, "four"), (2, "same"), (3, "none")])
            if pad_kind == "same":
                pads = "same"
            elif pad_kind == "none":
                pads = [0, 0, 0, 0]
            elif pad_kind == "int":
                p = r.int(0, 3)
                pads = [p, p, p, p]
            elif pad_kind == "hw":
                ph, pw = r.int(0, 3), r.int(0, 3)
                pads = [ph, ph, pw, pw]
            else:
                pads = [r.int(0, 3) for _ in range(4)]
            # The effective kernel must fit the padded input.
            total_h = (0 if pads == "same" else pads[0] + pads[1]) + h
            total_w = (0 if pads == "same" else pads[2] + pads[3]) + w
            while kh > 1 and dh * (kh - 1) + 1 > total_h:
                kh -= 1
            while kw > 1 and dw * (kw - 1) + 1 > total_w:
                kw -= 1
            if dh * (kh - 1) + 1 > total_h:
                dh = 1
            if dw * (kw - 1) + 1 > total_w:
                dw = 1
            attrs["kernel"] = self.hw_attr(kh, kw)
            if sh != 1 or sw != 1 or r.chance(0.2):
                attrs["stride"] = self.hw_attr(sh, sw)
            if pads == "same":
                attrs["pad"] = "same"
            elif pads != [0, 0, 0, 0] or r.chance(0.2):
                if pad_kind == "int":
                    attrs["pad"] = pads[0]
                elif pad_kind == "hw":
                    attrs["pad"] = [pads[0], pads[2]]
                else:
                    attrs["pad"] = pads
            if dh != 1 or dw != 1:
                attrs["dilation"] = self.hw_attr(dh, dw)
        if groups != 1:
            attrs["groups"] = groups
        if r.chance(0.25):
            attrs["bias"] = r.chance(0.3)
        # Output size.
        pad = attrs.get("pad", 0)
        if pad == "same":
            ho, wo = -(-h // sh), -(-w // sw)
        else:
            p = pad if isinstance(pad, list) else [pad] * 4
            if len(p) == 2:
                p = [p[0], p[0], p[1], p[1]]
            ho = window_extent(h, kh, sh, p[0], p[1], dh)
            wo = window_extent(w, kw, sw, p[2], p[3], dw)
        # Keep the work small: fewer filters (a multiple of the groups).
        while filters > groups and n * filters * ho * wo * (c // groups) * kh * kw > MAX_MACS:
            filters = max(groups, (filters // 2) // groups * groups)
        while filters > groups and n * filters * ho * wo > MAX_ELEMENTS:
            filters = max(groups, (filters // 2) // groups * groups)
        attrs["filters"] = filters
        return self.layer("conv2d", [x], [n, filters, ho, wo], **attrs)

    def activation(self, x, kind=None):
        r = self.rng
        kind = kind or r.choice(ACTIVATIONS)
        attrs = {}
        if kind == "leaky_relu" and r.chance(0.7):
            attrs["alpha"] = round_real(r.weighted([(4, r.real(0.001, 0.5)), (1, r.real(-1, 0)),
                                                    (1, r.real(1, 3))]))
        if kind == "elu" and r.chance(0.7):
            attrs["alpha"] = round_real(r.weighted([(4, r.real(0.1, 2)), (1, r.real(-1, 0)), (1, 0.0)]))
        if kind == "clip":
            lo = round_real(r.real(-3, 1))
            hi = lo if r.chance(0.05) else round_real(lo + r.real(0.01, 6))
            attrs = {"min": lo, "max": hi}
        return self.layer(kind, [x], self.shapes[x], **attrs)

    def batch_norm(self, x):
        r = self.rng
        shape = self.shapes[x]
        if self.mode == "training" and elements(shape) // shape[1] < 16:
            # Training normalises by the batch's statistics: one value per
            # channel has no variance (cnnc refuses it, as PyTorch does), and
            # a few make the gradient so ill-conditioned that float32 and
            # double disagree by more than rounding.
            return x
        attrs = {}
        if r.chance(0.4):
            attrs["eps"] = round_real(r.log_real(1e-6, 0.1))
        if r.chance(0.4):
            attrs["momentum"] = round_real(r.real(0, 1))
        return self.layer("batch_norm", [x], self.shapes[x], **attrs)

    def pool(self, x):
        r = self.rng
        n, c, h, w = self.shapes[x]
        kind = r.choice(["max_pool", "avg_pool"])
        kh = min(h, r.weighted([(4, 2), (4, 3), (1, 1), (1, 4), (1, 5)])) if h > 1 else r.int(1, 2)
        kw = kh if r.chance(0.8) else r.int(1, 5)
        sh = r.weighted([(3, kh), (3, 1), (3, 2), (1, 3), (1, 4)])
        sw = sh if r.chance(0.8) else r.int(1, 4)
        ph = r.int(0, kh - 1) if r.chance(0.4) else 0
        pw = ph if r.chance(0.7) else r.int(0, kw - 1)
        ph, pw = min(ph, kh - 1), min(pw, kw - 1)
        ceil_mode = r.chance(0.35)
        # The window must fit: shrink the kernel until it does.
        while kh > 1 and kh > h + 2 * ph:
            kh -= 1
            ph = min(ph, kh - 1)
        while kw > 1 and kw > w + 2 * pw:
            kw -= 1
            pw = min(pw, kw - 1)
        ho = window_extent(h, kh, sh, ph, ph, 1, ceil_mode)
        wo = window_extent(w, kw, sw, pw, pw, 1, ceil_mode)
        attrs = {"kernel": self.hw_attr(kh, kw)}
        if (sh, sw) != (kh, kw) or r.chance(0.3):
            attrs["stride"] = self.hw_attr(sh, sw)
        if ph or pw:
            attrs["pad"] = self.hw_attr(ph, pw)
        if ceil_mode:
            attrs["ceil_mode"] = True
        if kind == "avg_pool" and r.chance(0.5):
            attrs["count_include_pad"] = r.chance(0.5)
        return self.layer(kind, [x], [n, c, ho, wo], **attrs)

    def lrn(self, x):
        r = self.rng
        attrs = {}
        if r.chance(0.7):
            attrs["size"] = r.choice([1, 3, 5, 7])
        if r.chance(0.6):
            attrs["alpha"] = round_real(r.log_real(1e-4, 1.0))
        if r.chance(0.6):
            attrs["beta"] = round_real(r.real(0.1, 1.5))
        if r.chance(0.6):
            attrs["k"] = round_real(r.real(0.5, 3))
        return self.layer("lrn", [x], self.shapes[x], **attrs)

    def dropout(self, x):
        r = self.rng
        attrs = {}
        if r.chance(0.7):
            attrs["rate"] = round_real(r.real(0, 0.9))
        if r.chance(0.5):
            attrs["scaling"] = r.choice(["inverted", "at_test_time"])
        return self.layer("dropout", [x], self.shapes[x], **attrs)

    def softmax(self, x):
        rank = len(self.shapes[x])
        r = self.rng
        attrs = {}
        if rank > 2 or r.chance(0.5):
            attrs["axis"] = r.int(-rank, rank - 1)
        return self.layer("softmax", [x], self.shapes[x], **attrs)

    def linear(self, x, units=None):
        r = self.rng
        shape = self.shapes[x]
        features = 1
        for d in shape[1:]:
            features *= d
        units = units or r.weighted([(3, r.int(1, 70)), (1, r.int(71, 300)), (1, 16 * r.int(1, 4))])
        while units > 1 and shape[0] * units * features > MAX_MACS:
            units //= 2
        attrs = {"units": units}
        if r.chance(0.25):
            attrs["bias"] = r.chance(0.3)
        return self.layer("linear", [x], [shape[0], units], **attrs)

    def flatten(self, x):
        shape = self.shapes[x]
        features = 1
        for d in shape[1:]:
            features *= d
        return self.layer("flatten", [x], [shape[0], features])

    def global_pool(self, x):
        n, c = self.shapes[x][:2]
        return self.layer("global_avg_pool", [x], [n, c, 1, 1])

    def residual(self, x):
        """add(x, branch(x)) where the branch keeps the shape; sometimes a
        third operand, or an earlier value of the same shape."""
        r = self.rng
        shape = self.shapes[x]
        same = [v for v in self.order if self.shapes[v] == shape and v != x and v not in self.inputs]
        operands = [x]
        if same and r.chance(0.3):
            operands.append(r.choice(same))
        else:
            operands.append(self.branch(x, keep=True))
        if r.chance(0.15):
            operands.append(self.branch(x, keep=True))
        y = self.layer("add", operands, shape)
        if r.chance(0.5):
            y = self.activation(y)
        return y

    def branch(self, x, keep):
        """A short chain from x; keep: the output has x's shape."""
        r = self.rng
        shape = self.shapes[x]
        if len(shape) != 4:
            y = self.activation(x) if r.chance(0.5) else self.layer("dropout", [x], shape)
            return y
        y = x
        if r.chance(0.3):
            y = self.batch_norm(y)
        y = self.conv(y, filters=shape[1], keep_size=True) if keep else self.conv(y)
        if keep:
            # A depthwise or grouped draw may have changed the channels.
            if self.shapes[y] != shape:
                y = self.conv(y, filters=shape[1], keep_size=True)
                if self.shapes[y] != shape:
                    return x
        if r.chance(0.3):
            y = self.batch_norm(y)
        if r.chance(0.6):
            y = self.activation(y)
        return y

    def concat(self, x, depth=0):
        """concat of 2-3 branches from x (sometimes nested concatenations)."""
        r = self.rng
        shape = self.shapes[x]
        rank = len(shape)
        axis = r.weighted([(6, 1), (1, 0), (1, rank - 1), (1, -1)] + ([(1, 2)] if rank == 4 else []))
        axis_n = axis % rank
        parts = []
        for _ in range(r.int(2, 3)):
            if rank == 4 and axis_n == 1 and depth < 2 and r.chance(0.15):
                parts.append(self.concat(x, depth + 1))
            elif rank == 4 and axis_n == 1:
                # Any channel count; the map must stay x's.
                y = x
                if r.chance(0.7):
                    y = self.conv(y, keep_size=True)
                elif r.chance(0.5):
                    y = self.layer("max_pool", [y], shape, kernel=3, stride=1, pad=1)
                if r.chance(0.5):
                    y = self.activation(y)
                parts.append(y)
            else:
                parts.append(self.branch(x, keep=True))
        out = list(self.shapes[parts[0]])
        for p in parts[1:]:
            out[axis_n] += self.shapes[p][axis_n]
        if any(len(self.shapes[p]) != rank for p in parts):
            return x
        for p in parts:
            for d in range(rank):
                if d != axis_n and self.shapes[p][d] != out[d]:
                    return x
        attrs = {} if axis == 1 and r.chance(0.5) else {"axis": axis}
        return self.layer("concat", parts, out, **attrs)


def trains(net, x):
    """Whether a layer with trainable parameters feeds x."""
    by_name = {l["name"]: l for l in net.layers}
    todo, seen = [x], set()
    while todo:
        v = todo.pop()
        if v in seen or v not in by_name:
            continue
        seen.add(v)
        layer = by_name[v]
        if layer["type"] in ("conv2d", "linear", "batch_norm"):
            return True
        todo += layer["inputs"] if "inputs" in layer else [layer["input"]]
    return False


def elements(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def generate(seed, mode="inference"):
    """A valid network spec (dict) for `seed`; mode "inference" or "training"."""
    r = Rng(seed * 2 + (1 if mode == "training" else 0))
    net = Net(r, mode)
    batch = r.weighted([(5, 1), (3, 2), (2, 3)])
    dense_input = r.chance(0.08)
    if dense_input:
        x = net.add_input([batch, r.int(1, 100)])
    else:
        h = r.weighted([(2, r.int(1, 8)), (4, r.int(5, 24)), (2, r.int(20, 40))])
        w = h if r.chance(0.7) else r.int(1, 40)
        c = r.weighted([(3, r.int(1, 4)), (3, r.int(1, 70)), (1, 8 * r.int(1, 8))])
        while batch * c * h * w > MAX_ELEMENTS:
            c = max(1, c // 2)
        x = net.add_input([batch, c, h, w])
    second = None
    if mode == "inference" and r.chance(0.12):
        second = net.add_input(list(net.shapes[x]) if r.chance(0.6) else [batch, r.int(1, 16), 6, 6])

    steps = r.weighted([(2, r.int(1, 3)), (4, r.int(3, 7)), (2, r.int(7, 11))])
    for _ in range(steps):
        shape = net.shapes[x]
        if len(net.layers) > 22:
            break
        if len(shape) == 4:
            table = [(30, "conv"), (12, "activation"), (7, "batch_norm"), (9, "pool"), (2, "global_pool"),
                     (3, "lrn"), (4, "dropout"), (8, "residual"), (7, "concat"), (2, "softmax"),
                     (2, "flatten"), (3, "linear")]
            if mode == "training":
                table = [t for t in table if t[1] != "softmax" or r.chance(0.3)]
        else:
            table = [(10, "linear"), (6, "activation"), (3, "batch_norm"), (3, "dropout"), (2, "softmax"),
                     (3, "residual"), (2, "concat")]
        op = r.weighted(table)
        x = getattr(net, op)(x)
        # A layer that often comes next: batch norm and an activation after a
        # convolution (fused or folded into it), a convolution after a batch
        # norm (DenseNet), an activation after a linear layer.
        if op == "conv" and r.chance(0.2):
            x = net.batch_norm(x)
        if op == "conv" and r.chance(0.45) or op == "linear" and r.chance(0.4):
            x = net.activation(x)
        if op == "batch_norm" and len(shape) == 4 and r.chance(0.4):
            x = net.conv(x)
        if elements(net.shapes[x]) > MAX_ELEMENTS:
            break
        if second and r.chance(0.3) and net.shapes[second] == net.shapes[x]:
            x = net.layer("add", [x, second], net.shapes[x])
            second = None
    if second and len(net.shapes[second]) == 4 and len(net.shapes[x]) == 4 and r.chance(0.7):
        # Use the second input somewhere: a branch of its own into a concat
        # of the batch, or an output of its own.
        y = net.conv(second)
        outputs_extra = [y]
    elif second:
        outputs_extra = [net.activation(second)]
    else:
        outputs_extra = []

    if not net.layers:
        x = net.activation(x)
    if mode == "training":
        # A prediction autodiff accepts: class scores of a linear head
        # (cross-entropy), or any output (mean-squared error), which some
        # trainable parameter must reach.
        if r.chance(0.7) or not trains(net, x):
            if len(net.shapes[x]) != 2 or net.layers[-1]["type"] not in ("linear",):
                x = net.linear(x, units=r.int(2, 12))
            if r.chance(0.3):
                x = net.layer("softmax", [x], net.shapes[x])
        outputs = [x]
    else:
        outputs = [x] + outputs_extra
        candidates = [v for v in net.order if v not in net.inputs and v not in outputs]
        for _ in range(r.weighted([(6, 0), (2, 1), (1, 2)])):
            if candidates:
                outputs.append(candidates.pop(r.int(0, len(candidates) - 1)))
    spec = {"cnnc": 1, "name": f"fuzz{seed}", "inputs": net.inputs, "layers": net.layers, "outputs": outputs}
    return spec


def features(spec):
    """The op/attribute combinations a network covers (for coverage counts)."""
    out = set()
    for layer in spec["layers"]:
        t = layer["type"]
        keys = sorted(k for k in layer if k not in ("name", "type", "input", "inputs"))
        out.add(t)
        for k in keys:
            v = layer[k]
            if isinstance(v, bool) or isinstance(v, str):
                out.add(f"{t}.{k}={v}")
            elif isinstance(v, list):
                out.add(f"{t}.{k}=list{len(v)}")
                if k in ("kernel", "stride", "dilation") and len(set(v)) > 1:
                    out.add(f"{t}.{k}=rectangular")
            elif isinstance(v, int):
                out.add(f"{t}.{k}={v if v <= 7 else 'large'}")
            else:
                out.add(f"{t}.{k}=real")
        if t == "conv2d":
            g = layer.get("groups", 1)
            out.add("conv2d.groups=" + ("1" if g == 1 else "n"))
        if t in ("concat", "add"):  # a shrunk case may have one operand left
            out.add(f"{t}.inputs={len(layer.get('inputs', [layer.get('input')]))}")
    out.add(f"outputs={len(spec['outputs'])}")
    out.add(f"inputs={len(spec['inputs'])}")
    return out
