#!/usr/bin/python3
"""cnnc train survives kills, interrupts, damaged checkpoints and failing disks,
and a resumed run equals the uninterrupted one bit for bit.

One small run (LeNet-5 on 384 Fashion-MNIST images, batch 32, 3 epochs = 36
steps, a checkpoint every 3 steps) is the reference. Then:
  - kill -9 after a seeded random number of steps (read from its progress
    lines, so every kill lands while the run is going), six times, and twice
    inside a checkpoint write (CNNC_TRAIN_FAULT=kill_in_checkpoint@STEP), each
    time resuming with --resume until the run completes;
  - SIGINT: exit status 130, a checkpoint of the step reached, then --resume;
  - the newest checkpoint damaged (a flipped byte): --resume warns, falls back
    to the previous one and still ends equal;
  - a checkpoint write that fails (CNNC_WRITE_FAULT=enospc, eio_fsync): a
    warning, no temporary left behind, the run goes on; three failures in a
    row (after a run stopped by --max-steps 3) stop it with exit status 4 and
    the newest good checkpoint intact.
"Equal" means: the final checkpoint's tensors and weights.safetensors are
byte-identical, and log.csv agrees except for its timing columns. These runs
use the reference backend; the compiled backend (its steps take milliseconds)
is checked with the faults at fixed points: two kills inside checkpoint
writes and a --max-steps stop, each resumed, must end equal to its own
uninterrupted run. No verdict depends on time.

  check_train_resume.py --cnnc build/release/tools/cnnc --examples examples [--data DIR]
"""
import argparse
import csv
import os
import random
import re
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import cnnir_torch as ct  # noqa: E402

STEPS = 36


class Run:
    def __init__(self, cnnc, net, data, backend="reference"):
        self.base = [cnnc, "train", net, "--data", data, "--train-samples", "384", "--test-samples", "64",
                     "--batch", "32", "--epochs", "3", "--checkpoint-every", "3", "--seed", "7", "--quiet",
                     "--backend", backend]

    def args(self, d, resume):
        return self.base + ["--checkpoint-dir", d] + (["--resume"] if resume else [])

    def start(self, d, env=None):
        resume = os.path.isdir(d) and any(f.startswith("ckpt-") for f in os.listdir(d))
        return subprocess.Popen(self.args(d, resume), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=dict(os.environ, **(env or {})))

    def complete(self, d, env=None):
        p = self.start(d, env)
        out, err = p.communicate()
        return p.returncode, err

    def stop_after(self, d, steps, sig):
        """Runs (resuming from d's checkpoints) and sends `sig` once it reports
        `steps` more finished steps (its progress lines, one a step): the
        signal lands on an event, not after a sleep, so it always happens
        while the run is still going. Returns (exit status, whether it was
        sent, stderr)."""
        resume = os.path.isdir(d) and any(f.startswith("ckpt-") for f in os.listdir(d))
        args = [a for a in self.args(d, resume) if a != "--quiet"]
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seen, sent, err = 0, False, []
        for line in p.stderr:
            err.append(line)
            if re.match(r"epoch \d+/\d+ \[", line):
                seen += 1
                if seen == steps:
                    p.send_signal(sig)
                    sent = True
                    break
        err.append(p.communicate()[1])
        return p.returncode, sent, "".join(err)


def tensors(path):
    return ct.read_safetensors(path)


def logs(d):
    rows = list(csv.DictReader(open(f"{d}/log.csv")))
    return [{k: v for k, v in r.items() if k not in ("seconds", "images_per_s")} for r in rows]


class Checks:
    def __init__(self):
        self.failures, self.count = [], 0

    def expect(self, ok, what):
        self.count += 1
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            self.failures.append(what)

    def same_as(self, ref, d, what):
        final = f"ckpt-{STEPS:08d}.safetensors"
        ok = os.path.exists(f"{d}/{final}")
        if ok:
            a, b = tensors(f"{ref}/{final}"), tensors(f"{d}/{final}")
            ok = a.keys() == b.keys() and all(a[k].tobytes() == b[k].tobytes() for k in a)
            ok = ok and open(f"{ref}/weights.safetensors", "rb").read() == open(f"{d}/weights.safetensors",
                                                                                  "rb").read()
            ok = ok and logs(ref) == logs(d)
        self.expect(ok, f"{what}: the final state equals the uninterrupted run's, bit for bit")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--examples", required=True)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    args = ap.parse_args()
    run = Run(args.cnnc, f"{args.examples}/lenet5.json", args.data)
    rng = random.Random(20261126)
    c = Checks()
    with tempfile.TemporaryDirectory() as tmp:
        ref = f"{tmp}/ref"
        rc, err = run.complete(ref)
        c.expect(rc == 0, f"the uninterrupted run completes {err.strip()}")

        # Killed inside two checkpoint writes, then by kill -9 at random times,
        # resumed each time until the run completes.
        d, kills, in_write = f"{tmp}/killed", 0, 0
        for step in (9, 21):
            p = run.start(d, {"CNNC_TRAIN_FAULT": f"kill_in_checkpoint@{step}"})
            p.communicate()
            in_write += p.returncode == -signal.SIGKILL
        for _ in range(6):  # after a seeded random number of the run's next steps
            _, sent, _ = run.stop_after(d, rng.randint(1, 5), signal.SIGKILL)
            kills += sent
        rc, _ = run.complete(d)
        leftovers = [f for f in os.listdir(d) if ".tmp." in f]
        c.expect(rc == 0, f"{kills} random kill -9 and {in_write} kills inside a checkpoint write, "
                          f"then resumed: the run completes")
        c.expect(kills == 6, f"all 6 random kills happened while the run was going ({kills})")
        c.expect(in_write == 2, "both kills inside a checkpoint write happened (CNNC_TRAIN_FAULT)")
        c.expect(not leftovers, f"the temporaries of interrupted writes are cleaned up {leftovers}")
        c.same_as(ref, d, "killed and resumed")

        # SIGINT: a final checkpoint, exit 130, then resume.
        d = f"{tmp}/interrupted"
        rc_int, sent, err = run.stop_after(d, 17, signal.SIGINT)
        ckpts = sorted(f for f in os.listdir(d) if f.startswith("ckpt-"))
        # SIGINT inside a step or inside the epoch's validation: either message.
        interrupted = "interrupted at epoch" in err or "interrupted after epoch" in err
        c.expect(sent and rc_int == 130 and interrupted and ckpts,
                 f"SIGINT: exit {rc_int}, '{err.strip().splitlines()[-1] if err.strip() else ''}', "
                 f"checkpoints {ckpts}")
        rc, _ = run.complete(d)
        c.expect(rc == 0, "the interrupted run resumes")
        c.same_as(ref, d, "interrupted and resumed")

        # Stopped after an epoch's last batch, before its validation (where a
        # SIGINT can land too): the resumed run validates that epoch first.
        d = f"{tmp}/epoch-end"
        rc_stop = subprocess.run(run.args(d, False) + ["--max-steps", "12"], capture_output=True).returncode
        rc, _ = run.complete(d)
        c.expect(rc_stop == 0 and rc == 0, "stopped at the end of epoch 1 (--max-steps 12) and resumed")
        c.same_as(ref, d, "stopped at an epoch's end and resumed")

        # The newest checkpoint damaged: fall back to the previous one.
        d = f"{tmp}/damaged"
        run.stop_after(d, 20, signal.SIGKILL)  # past the checkpoints of steps 3 to 18
        ckpts = sorted(f for f in os.listdir(d) if f.startswith("ckpt-"))
        if len(ckpts) >= 2:
            newest = f"{d}/{ckpts[-1]}"
            data = bytearray(open(newest, "rb").read())
            data[-7] ^= 0x10
            open(newest, "wb").write(bytes(data))
            rc, err = run.complete(d)
            c.expect(rc == 0 and "checksum mismatch (file damaged); trying the previous checkpoint" in err,
                     f"a damaged newest checkpoint: warning and fallback ({err.strip().splitlines()[0]})")
            c.same_as(ref, d, "resumed from the checkpoint before a damaged one")
        else:
            c.expect(False, f"the damaged-checkpoint case needs two checkpoints, got {ckpts}")

        # Checkpoint writes that fail: warn and go on; three in a row stop the run.
        for fault in ("enospc", "eio_fsync"):
            d = f"{tmp}/{fault}"
            rc, err = run.complete(d, {"CNNC_WRITE_FAULT": f"{fault}:ckpt-00000006"})
            left = [f for f in os.listdir(d) if ".tmp." in f]
            c.expect(rc == 0 and "warning: checkpoint at step 6 failed" in err and not left,
                     f"{fault} on one checkpoint: exit {rc}, a warning, no temporary left")
            c.same_as(ref, d, f"{fault} on one checkpoint")
        d = f"{tmp}/disk-full"
        p = subprocess.run(run.args(d, False) + ["--max-steps", "3"], capture_output=True)
        rc, err = run.complete(d, {"CNNC_WRITE_FAULT": "enospc:ckpt-"})
        ckpts = sorted(f for f in os.listdir(d) if f.startswith("ckpt-"))
        c.expect(rc == 4 and "3 checkpoints in a row failed" in err and ckpts == ["ckpt-00000003.safetensors"],
                 f"a full disk: exit {rc}, stops after 3 failed checkpoints, the good one kept {ckpts}")

        # The compiled backend: the same trainer around a compiled step.
        comp = Run(args.cnnc, f"{args.examples}/lenet5.json", args.data, "compiled")
        cref = f"{tmp}/compiled-ref"
        rc, err = comp.complete(cref)
        c.expect(rc == 0, f"compiled: the uninterrupted run completes {err.strip()}")
        d, in_write = f"{tmp}/compiled-killed", 0
        for step in (9, 21):
            p = comp.start(d, {"CNNC_TRAIN_FAULT": f"kill_in_checkpoint@{step}"})
            p.communicate()
            in_write += p.returncode == -signal.SIGKILL
        rc, _ = comp.complete(d)
        c.expect(rc == 0 and in_write == 2, f"compiled: killed inside 2 checkpoint writes ({in_write}), resumed")
        c.same_as(cref, d, "compiled: killed and resumed")
        d = f"{tmp}/compiled-stopped"
        p = subprocess.run(comp.args(d, False) + ["--max-steps", "16"], capture_output=True)
        rc, _ = comp.complete(d)
        c.expect(p.returncode == 0 and rc == 0, "compiled: stopped by --max-steps 16 and resumed")
        c.same_as(cref, d, "compiled: stopped mid-epoch and resumed")
    print(f"{c.count - len(c.failures)} of {c.count} checks passed")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
