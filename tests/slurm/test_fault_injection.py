"""The test-only memory switch the fault tests use (samderm.fault_injection): resident memory
for the named job only."""

from __future__ import annotations

import subprocess
import sys

from samderm.fault_injection import BALLAST_ENV

RSS_AFTER_LOGGING = """
import re, sys
from samderm.logs import setup_logging
rss = lambda: int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read())[1]) // 1024
before = rss()
setup_logging(sys.argv[1])
print(rss() - before)
"""


def grown_mb(log_path, switch: str | None) -> int:
    env = {"PATH": "/usr/bin:/bin", **({BALLAST_ENV: switch} if switch else {})}
    out = subprocess.run([sys.executable, "-c", RSS_AFTER_LOGGING, str(log_path)], env=env,
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def test_the_named_job_holds_the_ballast_resident(tmp_path):
    log = tmp_path / "logs/train_heads/exp1/wce/parallel/seed0.log"
    assert grown_mb(log, "train_heads/exp1/wce/=300") >= 290
    assert "holding 300 MB of test ballast" in log.read_text()


def test_other_jobs_and_unset_switch_hold_nothing(tmp_path):
    log = tmp_path / "logs/train_heads/exp1/lmf/parallel/seed0.log"
    assert grown_mb(log, "train_heads/exp1/wce/=300") < 50
    assert grown_mb(log, None) < 50
