#!/usr/bin/python3
"""Checks `cnnc report` of every example against torchvision.

For each example with a torchvision counterpart it builds the model with random
weights (no download), counts trainable parameters as PyTorch does
(sum of p.numel() over model.parameters()), and counts multiply-accumulates with
forward hooks on Conv2d and Linear (conv: K*(C/groups)*R*S*H_out*W_out per image;
linear: in*out). Both totals must equal cnnc's exactly, and so must the MACs of
every conv/linear layer, matched by name (cnnc's examples use torchvision's
module names). The parameter totals are also compared with the figures the
issue states, so a torchvision upgrade cannot move the goalposts silently.

Runs with Debian's python3-torch and python3-torchvision.
"""
import argparse
import json
import re
import subprocess
import sys

import torch
import torchvision.models as tvm

# Totals from the issue (torchvision's own figures).
EXPECTED_PARAMS = {
    "alexnet": 61_100_840, "vgg16": 138_357_544, "vgg19": 143_667_240, "resnet18": 11_689_512,
    "resnet34": 21_797_672, "resnet50": 25_557_032, "resnet101": 44_549_160, "resnet152": 60_192_808,
    "googlenet": 6_624_904, "mobilenet_v2": 3_504_872, "densenet121": 7_978_856, "squeezenet1_1": 1_235_496,
}
# Networks without a torchvision model: parameter totals from their sources.
OTHER_PARAMS = {"alexnet_original": 60_965_224}  # Caffe's bvlc_alexnet deploy.prototxt


def build(name):
    kwargs = {}
    if name == "googlenet":
        kwargs = {"aux_logits": False, "init_weights": False}
    return getattr(tvm, name)(**kwargs).eval()


def torch_name(module_name, net):
    """torchvision module path -> cnnc layer name, where the examples differ."""
    if net == "densenet121":
        # torchvision: features.denseblock1.denselayer3.conv1; cnnc: features.denseblock1.2.conv1
        return re.sub(r"denselayer(\d+)", lambda m: str(int(m.group(1)) - 1), module_name)
    return module_name


def torch_counts(name):
    model = build(name)
    params = sum(p.numel() for p in model.parameters())
    macs = {}

    def hook(mod, inp, out):
        if isinstance(mod, torch.nn.Conv2d):
            k = mod.out_channels * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
            macs[mod._cnnc_name] = k * out.shape[2] * out.shape[3]
        else:
            macs[mod._cnnc_name] = mod.in_features * mod.out_features

    for mname, mod in model.named_modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            mod._cnnc_name = torch_name(mname, name)
            mod.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    return params, macs


def cnnc_report(cnnc, path):
    out = subprocess.run([cnnc, "report", path, "--format", "json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--examples", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    failures = 0
    print(f"{'network':16} {'params (cnnc)':>14} {'params (torch)':>15} {'MACs (cnnc)':>15} {'MACs (torch)':>15}  layers")
    for name, want in EXPECTED_PARAMS.items():
        rep = cnnc_report(args.cnnc, f"{args.examples}/{name}.json")
        t_params, t_macs = torch_counts(name)
        c_layers = {l["name"]: l for l in rep["layers"] if l["type"] in ("conv2d", "linear")}
        problems = []
        if rep["totals"]["params"] != t_params:
            problems.append(f"params {rep['totals']['params']} != torchvision {t_params}")
        if t_params != want:
            problems.append(f"torchvision has {t_params} params, the issue says {want}")
        if rep["totals"]["macs"] != sum(t_macs.values()):
            problems.append(f"MACs {rep['totals']['macs']} != torchvision {sum(t_macs.values())}")
        if set(c_layers) != set(t_macs):
            problems.append(f"conv/linear layers differ: only cnnc {sorted(set(c_layers) - set(t_macs))[:5]}, "
                            f"only torch {sorted(set(t_macs) - set(c_layers))[:5]}")
        for lname, m in t_macs.items():
            if lname in c_layers and c_layers[lname]["macs"] != m:
                problems.append(f"layer {lname}: MACs {c_layers[lname]['macs']} != torchvision {m}")
        print(f"{name:16} {rep['totals']['params']:>14,} {t_params:>15,} {rep['totals']['macs']:>15,} "
              f"{sum(t_macs.values()):>15,}  {len(t_macs)} matched" + ("" if not problems else "  FAIL"))
        for p in problems[:10]:
            print(f"    {p}")
        failures += bool(problems)
    for name, want in OTHER_PARAMS.items():
        got = cnnc_report(args.cnnc, f"{args.examples}/{name}.json")["totals"]["params"]
        ok = got == want
        print(f"{name:16} {got:>14,} {want:>15,} (reference)" + ("" if ok else "  FAIL"))
        failures += not ok
    if failures:
        print(f"{failures} network(s) differ from torchvision")
        return 1
    print("all examples match torchvision")
    return 0


if __name__ == "__main__":
    sys.exit(main())
