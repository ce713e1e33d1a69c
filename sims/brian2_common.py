"""What the Brian2 twins of our scenarios share (they run under a Python with Brian2, as scripts, and
import this file from their own folder): build the cpp_standalone project and time its run; and, for
our side, where to find a Python with Brian2. Standard library only."""
import os
import time


def find_python(explicit=None):
    """A Python with Brian2: ``explicit``, else $B2PY, else the shared checks' venv; None if none exists."""
    for cand in (explicit, os.environ.get("B2PY"),
                 os.path.join(os.path.expanduser("~"), ".cache", "project-checks", "b2venv", "bin", "python")):
        if cand and os.path.exists(cand):
            return cand
    return None


def build_and_time(b2, builddir):
    """After ``net.run(...)`` (which must stay in the script: Brian2 resolves the equations' names in
    the caller's frame), compile the project, then run and time the binary alone. Returns (the
    simulation loop's own time as Brian2 reports it, the binary's wall time)."""
    b2.device.build(directory=builddir, compile=True, run=False, with_output=False)
    t0 = time.perf_counter()
    b2.device.run(directory=builddir, with_output=False)
    return float(b2.device._last_run_time), time.perf_counter() - t0
