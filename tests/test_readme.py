"""The README's engine examples run as written."""
import re
from pathlib import Path


def test_readme_python_example_runs(tmp_path, monkeypatch):
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for code in blocks:          # later examples build on the names of earlier ones
        exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["sim"].t_ms >= 8 * 3600e3
    assert (tmp_path / "raster.png").exists() and (tmp_path / "state.h5").exists()


def test_ci_runs_the_readme_test_command_verbatim():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    start = readme.index("## Quick start")
    commands = [ln for ln in readme[start:].split("```bash", 1)[1].split("```", 1)[0].splitlines()
                if ln.strip() and not ln.startswith("#")]
    assert len(commands) == 2, "the Quick start has exactly two commands"
    test_cmd = [c for c in commands if "pytest" in c][0]
    assert test_cmd in (root / ".ci" / "run").read_text()
