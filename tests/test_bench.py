"""`rsnn-decoding bench --json --quick` through its handler: one JSON object with the timing keys."""

from __future__ import annotations

import argparse
import json
import math

import pytest

from rsnn_decoding import bench

REQUIRED = ["tiny_train_step_s", "big_train_step_s", "stream_step_us", "full_sequence_s"]


@pytest.mark.slow
def test_bench_json_quick(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints exactly one JSON object with ours / reference_ / snntorch_ timings (positive floats)."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    bench.register_cli(sub)
    args = parser.parse_args(["bench", "--json", "--quick"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    result = json.loads(out)  # the whole stdout is one JSON document
    assert out.strip().count("\n") == 0
    assert result["quick"] is True
    for key in REQUIRED:
        for prefix in ("", "reference_", "snntorch_"):
            value = result[prefix + key]
            assert isinstance(value, float) and math.isfinite(value) and value > 0, prefix + key
    assert result["full_sequence_steps"] == 2000
    assert isinstance(result["torch_threads"], int) and isinstance(result["cpu_count"], int)
    assert result["optimizer"] == "rsnn_decoding.training.optim.SMORMS3"
    assert 0 < result["tiny_spike_rate"] < 1
    ratio = result["reference_tiny_train_step_s"] / result["tiny_train_step_s"]
    assert math.isclose(result["tiny_speedup_vs_reference"], ratio)
    text = bench.format_report(result)
    assert "ref/ours" in text and "float16" in text
