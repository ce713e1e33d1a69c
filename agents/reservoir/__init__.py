"""Reservoir "what/when" prediction (issue 7; spec ../shared/specs/reservoir.md).

A heterogeneous Izhikevich reservoir run on the engine (`reservoir`), declarative tasks (`tasks`),
error-modulated attention-gated three-factor readouts and the FORCE baseline on the reservoir's
filtered-spike features (`learning`), evaluation (`analysis`), the suite (`suite`) and figures
(`figures`).  `python -m sims.predict` runs the suite.
"""
from .config import ConfigError, ForceConfig, LearnConfig, ReservoirConfig
from .tasks import Cue, Switch, Task, Trial, factorial_task, foreperiod_task

__all__ = ["ConfigError", "ForceConfig", "LearnConfig", "ReservoirConfig", "Cue", "Switch", "Task", "Trial",
           "factorial_task", "foreperiod_task"]
