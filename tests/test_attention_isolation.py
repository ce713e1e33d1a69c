"""torch stays an import of spiking.attention only."""
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_import_spiking_does_not_import_torch():
    code = "import sys, spiking; assert 'torch' not in sys.modules, 'spiking imported torch'; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_no_torch_import_outside_attention():
    pat = re.compile(r"^\s*(import torch|from torch)", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "spiking").rglob("*.py")
                 if "attention" not in p.relative_to(ROOT / "spiking").parts and pat.search(p.read_text())]
    assert offenders == []
    init = (ROOT / "spiking" / "__init__.py").read_text()
    imported = re.findall(r"^\s*(?:from|import)\s+(\S+)", init, re.M)
    assert not any("attention" in m for m in imported), imported
