"""Atomic writes (qipstudy.atomic): a killed writer leaves the old file or none, and its
temporary file is removed by the next run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qipstudy.atomic import atomic_path, remove_stale_temporaries, write_text

SRC = Path(__file__).resolve().parents[2] / "src"


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "table.csv"
    write_text("old\n", target)
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half of the new", encoding="utf-8")
            raise RuntimeError("disk full")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_sigkill_mid_write_leaves_the_old_file_and_the_next_run_removes_the_temporary(tmp_path):
    target = tmp_path / "results" / "figures" / "figure4_map.pdf"
    write_text("old figure\n", target)
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(SRC)!r})
        from qipstudy.atomic import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            tmp.write_text("half a figure", encoding="utf-8")
            print("writing", flush=True)
            time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    leftovers = [p for p in target.parent.iterdir() if p.name != target.name]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".figure4_map.") and leftovers[0].suffix == ".pdf"
    assert target.read_text() == "old figure\n"  # the declared output was never touched
    # a concurrent writer's temporary (a live process) is kept
    live = target.parent / f".figure6_heatmaps.{os.getpid()}.0123abcd.tmp.png"
    live.write_text("in progress")
    removed = remove_stale_temporaries([tmp_path / "results"])
    assert removed == leftovers
    assert not leftovers[0].exists() and live.exists()
    assert sorted(p.name for p in target.parent.iterdir()) == sorted([target.name, live.name])


def test_only_temporaries_made_by_atomic_path_are_touched(tmp_path):
    other = tmp_path / ".hidden.tmp.txt"
    other.write_text("not ours")
    dead = tmp_path / ".events.999999999.deadbeef.tmp.parquet"  # no such pid
    dead.write_text("x")
    assert remove_stale_temporaries([tmp_path, tmp_path / "missing"]) == [dead]
    assert other.exists() and not dead.exists()
