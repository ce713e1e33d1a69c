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
import sys
import threading
import time
from dataclasses import dataclass

from agents.ember.substrate import Interrupted

from .ember_session import SessionConfig, add_common, open_agent, session_config

HELP = ("commands: /inspect  /sleep  /why N  /pending  /approve N  /reject N  /good  /bad  /help  /quit\n"
        "anything else is a message to EMBER")


@dataclass(frozen=True)
class ChatConfig:
    session: SessionConfig
    realtime: bool = True      # idle in the background between messages (a terminal only)


class Background:
    """The substrate's real-time idle between messages, one simulated second per wall second."""

    def __init__(self, agent, lock, out):
        self.agent, self.lock, self.out = agent, lock, out
        self.stop = threading.Event()
        self.behind_said = 0.0
        self.thread = threading.Thread(target=self._run, name="ember-idle", daemon=True)

    def _run(self):
        wall0, sim0 = time.monotonic(), self.agent.substrate.t_s
        while not self.stop.is_set():
            with self.lock:
                if self.stop.is_set() or self.agent.substrate.interrupt:
                    break
                try:
                    self.agent.idle(1.0, on_event=lambda ev: self.out(
                        ev.one_line() + (f"\n  {ev.content}" if ev.content else "")))
                except Interrupted:
                    break
                sim = self.agent.substrate.t_s
            lag = (time.monotonic() - wall0) - (sim - sim0)
            if lag > 5.0 and time.monotonic() - self.behind_said > 60.0:
                self.out(f"(memory is {lag:.0f} s behind real time: the network runs slower than real time here)")
                self.behind_said = time.monotonic()
            if lag < 0:
                self.stop.wait(-lag)


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
    """The session. ``lines``: an iterable of input lines (None: the terminal, with a prompt)."""
    interactive = lines is None
    lock = threading.Lock()
    agent = open_agent(config.session, deliver=lambda text: out(f"EMBER (reaching out): {text}"))
    in_turn = threading.Event()
    _sigterm_saves(agent, busy=in_turn.is_set)
    if agent.relearned:
        out(f"(learned again {len(agent.relearned)} message(s) stored after the last checkpoint)")
    bg = Background(agent, lock, out) if interactive and config.realtime else None
    turns = 0
    try:
        if bg is not None:
            bg.thread.start()
        source = lines if lines is not None else _prompt_lines()
        for raw in source:
            if agent.substrate.interrupt:
                break
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            with lock:
                in_turn.set()
                try:
                    if line.startswith("/"):
                        if not _command(agent, line, out):
                            break
                        continue
                    turn = agent.chat(line)
                    turns += 1
                finally:
                    in_turn.clear()
            if turn.error:
                out(f"(the language model failed: {turn.error}; your message is stored and learned)")
            else:
                out(f"EMBER: {turn.reply}")
    except (KeyboardInterrupt, Interrupted):
        out("\n(saving)")
    finally:
        if bg is not None:
            bg.stop.set()
            bg.thread.join()
        agent.substrate.interrupt = False
        with lock:
            info = agent.inspect()
            agent.close(sleep=True)
    return {"turns": turns, **info}


def _sigterm_saves(agent, busy=lambda: True):
    """SIGTERM ends the session like Ctrl-C, but never in the middle of a simulation step: while
    the memory simulates (``busy()``), it stops at the next 1 s bin and the caller saves."""
    import signal

    def handler(signum, frame):
        agent.substrate.interrupt = True
        if not busy():
            raise KeyboardInterrupt
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def _prompt_lines():
    while True:
        try:
            yield input("you> ")
        except EOFError:
            return


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
