"""``ember chat``: talk with the hybrid agent. Its spiking memory keeps running in the background
in real time between messages, and autonomous actions appear as they happen with a one-line
reason.

    ember chat [--state DIR] [--scale S] [--actor env|scripted] [--embedder minilm|hashing]

Commands: /inspect, /sleep, /why N, /pending, /approve N, /reject N, /good, /bad, /help, /quit.
Ctrl-C saves and quits; the next start resumes. When stdin is not a terminal, each line is one
message (so a session can be scripted) and the session ends at end of input.
"""
from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from dataclasses import dataclass

from agents.ember.substrate import Interrupted

from .ember_session import SessionConfig, add_common, open_agent_or_scripted, session_config

HELP = ("commands: /inspect  /sleep  /why N  /pending  /approve N  /reject N  /good  /bad  /help  /quit\n"
        "anything else is a message to EMBER")


@dataclass(frozen=True)
class ChatConfig:
    session: SessionConfig
    realtime: bool = True      # idle in the background between messages (a terminal only)


class Keyboard:
    """Reads the terminal in a thread, so the memory can run in the main thread between messages
    (numba kernels run fastest there, and signals arrive there)."""

    def __init__(self):
        self.lines: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._read, name="ember-keyboard", daemon=True)
        self.thread.start()

    def _read(self):
        while True:
            try:
                self.lines.put(input("you> "))
            except (EOFError, OSError):
                self.lines.put(None)
                return


def _realtime(agent, keyboard, out):
    """Idle the memory one simulated second at a time, paced to the wall clock, until a line is
    typed; yields each line (None at end of input)."""
    wall0, sim0 = time.monotonic(), agent.substrate.t_s
    said = 0.0
    while True:
        try:
            line = keyboard.lines.get_nowait()
        except queue.Empty:
            line = False
        if line is not False:
            yield line
            if line is None:
                return
            wall0, sim0 = time.monotonic(), agent.substrate.t_s     # a turn's own time is not idle
            continue
        agent.idle(1.0, on_event=lambda ev: out(ev.one_line() + (f"\n  {ev.content}" if ev.content else "")))
        lag = (time.monotonic() - wall0) - (agent.substrate.t_s - sim0)
        if lag > 5.0 and time.monotonic() - said > 60.0:
            out(f"(memory is {lag:.0f} s behind real time: the network runs slower than real time here)")
            said = time.monotonic()
        if lag < 0:
            try:
                line = keyboard.lines.get(timeout=-lag)
            except queue.Empty:
                continue
            yield line
            if line is None:
                return
            wall0, sim0 = time.monotonic(), agent.substrate.t_s


def _command(agent, line: str, say) -> bool:
    """Run one /command; returns False to quit."""
    parts = line[1:].split()
    cmd, arg = (parts[0].lower() if parts else ""), (parts[1] if len(parts) > 1 else None)
    if cmd in ("quit", "exit", "q"):
        return False
    if cmd == "help":
        say(HELP)
    elif cmd == "inspect":
        say(json.dumps(agent.inspect(), indent=1))
    elif cmd == "sleep":
        out = agent.sleep()
        say(f"slept: replayed {out['items']} episodes; lateral synapses {out['synapses_before']} -> {out['synapses_after']}")
    elif cmd == "why" and arg:
        say(json.dumps(agent.why(int(arg)), indent=1))
    elif cmd == "pending":
        rows = agent.agent.pending_approvals()
        say("\n".join(f"#{r['id']}: {r['content']}" for r in rows) or "no reach_out waits for approval")
    elif cmd in ("approve", "reject") and arg:
        try:
            out = agent.agent.approve(int(arg), accept=(cmd == "approve"))
            say(f"{cmd}d #{arg}: {out.status}")
        except ValueError as e:
            say(str(e))
    elif cmd in ("good", "bad"):
        agent.feedback(1 if cmd == "good" else -1)
        say(f"noted ({cmd}): a {'+' if cmd == 'good' else '-'}dopamine pulse")
    else:
        say(f"unknown command {line!r}; {HELP}")
    return True


def run(config: ChatConfig, lines=None, out=print) -> dict:
    """The session. ``lines``: an iterable of input lines (None: the terminal, with a prompt and the
    memory idling in real time between messages)."""
    agent, _ = open_agent_or_scripted(config.session, out, "the chat",
                                      deliver=lambda text: out(f"EMBER (reaching out): {text}"))
    _interrupts_stop_at_a_bin(agent)
    if agent.relearned:
        out(f"(learned again {len(agent.relearned)} message(s) stored after the last checkpoint)")
    if lines is None:
        kb = Keyboard()
        source = _realtime(agent, kb, out) if config.realtime else _polled(agent, kb)
    else:
        source = lines
    turns = 0
    try:
        for raw in source:
            if raw is None or agent.substrate.interrupt:
                break
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            if line.startswith("/"):
                if not _command(agent, line, out):
                    break
                continue
            turn = agent.chat(line)
            turns += 1
            if turn.error:
                out(f"(the language model failed: {turn.error}; your message is stored and learned)")
            else:
                out(f"EMBER: {turn.reply}")
    except Interrupted:
        out("\n(saving)")
    finally:
        agent.substrate.interrupt = False
        info = agent.inspect()
        agent.close(sleep=True)
    return {"turns": turns, **info}


def _polled(agent, keyboard):
    """The typed lines, without idling between them (``--no-realtime``); stops when interrupted."""
    while not agent.substrate.interrupt:
        try:
            line = keyboard.lines.get(timeout=0.5)
        except queue.Empty:
            continue
        yield line
        if line is None:
            return


def _interrupts_stop_at_a_bin(agent):
    """SIGTERM and Ctrl-C end the session, never in the middle of a simulation step: they set the
    substrate's interrupt flag, idle stops at the next 1 s bin (``Interrupted``), a turn finishes,
    and the caller saves."""
    import signal

    def handler(signum, frame):
        agent.substrate.interrupt = True
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="ember chat", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(ap)
    ap.add_argument("--no-realtime", action="store_true", help="do not idle in the background between messages")
    a = ap.parse_args(argv)
    cfg = ChatConfig(session_config(a), realtime=not a.no_realtime)
    tty = sys.stdin.isatty()
    if tty:
        print(f"EMBER, state in {cfg.session.state}. {HELP}")
    res = run(cfg, None if tty else sys.stdin)
    print(f"(saved: {res['messages']} messages, {len(res['assemblies'])} assemblies, {res['synapses']} lateral synapses)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
