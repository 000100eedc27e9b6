"""`rsnn-decoding bench-memory`: peak memory (RSS) and wall time of one pretraining job, in a fresh process."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from rsnn_decoding.errors import UserError

# Runs in the child: pretrain one epoch and report the process's peak RSS before and after.
CHILD = """
import json, resource, sys, time
import torch
from rsnn_decoding.network.config import config_for
from rsnn_decoding.training.config import TrainConfig
from rsnn_decoding.training.stages import pretrain
args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
cfg = TrainConfig.for_model(args["model"], epochs=args["epochs"], t_max=200)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
pretrain(args["sessions"], config_for(args["model"]), cfg, 1, args["out"] + "/m.pt", args["out"] + "/m.json",
         args["out"] + "/m.state.pt", device="cpu")
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_rss_mb": peak / 1024, "rss_before_mb": before / 1024, "pretrain_s": wall}))
"""


def measure(sessions: list[str], model: str = "tinyRSNN", epochs: int = 1, threads: int = 2) -> dict[str, Any]:
    """Peak RSS (MB) of a fresh process that pretrains `model` on `sessions` for `epochs`, and its wall time."""
    with tempfile.TemporaryDirectory() as out:
        arg = json.dumps({"sessions": sessions, "model": model, "epochs": epochs, "threads": threads, "out": out})
        proc = subprocess.run([sys.executable, "-c", CHILD, arg], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"pretraining failed: {proc.stderr.strip().splitlines()[-1:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update({"model": model, "sessions": len(sessions), "epochs": epochs, "threads": threads})
    return result


def _handler(args: argparse.Namespace) -> int:
    """Handler of `rsnn-decoding bench-memory`."""
    for path in args.sessions:
        if not Path(path).is_file():
            raise UserError(f"{path}: preprocessed session not found; pass existing .h5 files")
    r = measure(list(args.sessions), args.model, args.epochs, args.threads)
    if args.json:
        print(json.dumps(r))
    else:
        print(f"pretrain {r['model']} on {r['sessions']} sessions, {r['epochs']} epoch(s), {r['threads']} threads: "
              f"peak RSS {r['peak_rss_mb']:.0f} MB (after imports {r['rss_before_mb']:.0f} MB), "
              f"{r['pretrain_s']:.1f} s")
    return 0


def register_cli(subparsers: Any) -> None:
    """Add `bench-memory SESSION.h5 ...`."""
    p = subparsers.add_parser("bench-memory", help="peak memory and time of one pretraining job (fresh process)")
    p.add_argument("sessions", nargs="+", help="preprocessed sessions (.h5) of one monkey")
    p.add_argument("--model", default="tinyRSNN", choices=["tinyRSNN", "bigRSNN"])
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_handler)
