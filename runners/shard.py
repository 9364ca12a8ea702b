"""One shard of a study, as a Hydra app: a launcher (joblib, submitit on Slurm) runs the shards as an array.

    python -m runners.shard --multirun study=bench n_shards=8 'shard=range(8)' hydra/launcher=slurm
    python -m runners.shard --multirun study=NAME n_shards=2 'shard=range(2)' hydra/launcher=joblib \\
        'set="budget.amount=50 seeds=[0,1,2]"'

Shard ``i`` of ``N`` runs the study's runs at positions ``i, i + N, ...`` of its
plan that are not finished yet (:func:`runners.study.run_study`), in one process
pool, so that one cluster job holds many sub-second simulated runs instead of
one. Restarts are idempotent: finished runs are skipped (their fixed folders,
checksums verified) and a run another process holds (its lock) is left to it.
No shard writes the report; ``python -m runners.report study=NAME`` does, once
every shard is done (``python -m runners.study status study=NAME`` says).
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from benchmarks.cli import (
    check_config_keys,
    check_override_keys,
    cli_errors,
    hydra_overrides,
    traceback_wanted,
)
from benchmarks.protocol import CurveBenchError

from .checks import RunConfigError
from .study import load_study, run_study


@dataclass
class ShardConf:
    """A study's name (or YAML path), which shard of how many, and the study's own overrides.

    ``set`` holds the study's ``key=value`` overrides separated by spaces (one
    quoted string on Hydra's command line: ``'set="budget.amount=50 n_jobs=4"'``).
    """

    study: str = MISSING
    shard: int = 0
    n_shards: int = 1
    set: str = ""


ConfigStore.instance().store(name="shard_schema", node=ShardConf)


def run_shard(cfg: DictConfig) -> dict:
    """Load the study with this shard's settings and run its slice; returns run_study's outcome."""
    check_config_keys(
        cfg, ShardConf, what="runners.shard's settings", source="shard config", error=RunConfigError
    )
    if OmegaConf.is_missing(cfg, "study"):
        raise RunConfigError(
            "which study? pass study=NAME (a study of runners/conf/studies) or study=FILE.yaml"
        )
    overrides = shlex.split(str(cfg.set))
    for key in ("shard", "n_shards"):
        if any(o.split("=", 1)[0].strip() == key for o in overrides):
            raise RunConfigError(f"set={cfg.set!r} sets {key}; pass it as {key}=... of runners.shard instead")
    study = load_study(
        str(cfg.study), [*overrides, f"shard={int(cfg.shard)}", f"n_shards={int(cfg.n_shards)}"]
    )
    return run_study(study, progress=False)


@hydra.main(config_path="conf", config_name="shard", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        out = run_shard(cfg)
    except (CurveBenchError, FileNotFoundError, ValueError) as e:
        if traceback_wanted():
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(
        f"shard {cfg.shard} of {cfg.n_shards}: {out['ran']} ran, {out['skipped']} already finished, "
        f"{out['failed']} failed, {out['taken']} taken by another process"
    )
    if out["failed"] or out["conflicts"]:
        sys.exit(1)


def cli() -> None:
    """``python -m runners.shard``: every key of the command line must be one of :class:`ShardConf`'s (``+`` too)."""
    with cli_errors(CurveBenchError):
        check_override_keys(
            hydra_overrides(), ShardConf, what="runners.shard's settings", error=RunConfigError
        )
    main()


if __name__ == "__main__":
    from runners.shard import cli as _cli  # launchers pickle the task: refer to the importable module

    _cli()
