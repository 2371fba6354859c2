"""The losses section of a config: DRW's start epoch, keys each type takes, renamed keys."""

from __future__ import annotations

import copy

import pytest
import torch
import yaml
from snakemake.utils import validate

from samderm.config import config_problems
from samderm.losses import build_loss, loss_config_problems, resolve_drw_epoch


@pytest.mark.parametrize("epochs,expected", [(200, 160), (60, 48), (100, 80), (7, 5)])
def test_drw_starts_at_80_percent_of_the_epochs_by_default(epochs, expected):
    assert resolve_drw_epoch({"type": "ldam_drw"}, epochs)["drw_epoch"] == expected


def test_drw_epoch_and_fraction_override_the_default_and_other_losses_pass_through():
    assert resolve_drw_epoch({"type": "ldam_drw", "drw_epoch": 7}, 200)["drw_epoch"] == 7
    assert resolve_drw_epoch({"type": "ldam_drw", "drw_fraction": 0.5}, 60)["drw_epoch"] == 30
    assert resolve_drw_epoch({"type": "ldam", "drw_epoch": None}, 60) == {"type": "ldam", "drw_epoch": None}


def test_reweighting_switches_on_exactly_at_the_resolved_epoch():
    loss = build_loss(resolve_drw_epoch({"type": "ldam_drw"}, 60), [30, 5, 1])
    logits, target = torch.randn(6, 3), torch.tensor([0, 0, 0, 1, 1, 2])
    values = []
    for epoch in (0, 47, 48, 59):
        loss.start_epoch(epoch)
        values.append(loss(logits, target).item())
    assert [loss.drw_epoch, values[0] == values[1], values[1] != values[2], values[2] == values[3]] == [48, True, True, True]


@pytest.mark.parametrize("entry,message", [
    ({"type": "lmf", "alpha": 1.0, "lmf_beta": 0.5}, "losses.x.lmf_beta was renamed: write `beta: 0.5`"),
    ({"type": "ldam_drw", "beta": 0.999}, "losses.x.beta was renamed: write `drw_beta: 0.999`"),
    ({"type": "ldam", "drw_epoch": 160}, "write `{type: ldam_drw, drw_epoch: 160}`"),
    ({"type": "lmf", "drw_epoch": 3}, "losses.x.drw_epoch does nothing for type lmf"),
    ({"type": "focal", "max_m": 0.5}, "losses.x.max_m does nothing for type focal"),
    ({"type": "lmf", "alpha": {"lesion": [1.0]}}, "losses.x.alpha: lmf's alpha is one number"),
    ({"type": "weighted_ce", "beta": 1.0}, "losses.x.beta: the effective-number beta must be in [0, 1)"),
])
def test_bad_loss_entries_are_named_with_the_new_form(entry, message):
    problems = loss_config_problems({"x": entry})
    assert len(problems) == 1 and message in problems[0]


def test_null_keys_and_the_default_losses_have_no_problems():
    assert loss_config_problems({"x": {"type": "ldam", "drw_epoch": None, "alpha": None, "balanced_mixup": None}}) == []


def test_the_config_check_reports_an_old_lmf_entry(repo):
    with open(repo / "config/config.yaml") as fh:
        config = yaml.safe_load(fh)
    validate(copy.deepcopy(config), str(repo / "config/schema.yaml"))
    config["losses"]["lmf"] = {"type": "lmf", "alpha": 1.0, "lmf_beta": 1.0}
    validate(config, str(repo / "config/schema.yaml"))  # the schema keeps the old key so this check can name it
    problems = config_problems(config, repo)
    assert any("losses.lmf.lmf_beta was renamed" in p for p in problems)
    assert not any(p.startswith("losses.") and "lmf_beta" not in p for p in problems)
