"""Every classic backprop mistake in the catalog is flagged, naming the wrong parameters."""

from __future__ import annotations

import re

import pytest
from mistakes_catalog import CATALOG, NET, correct, problem, wrong_names

import symprop


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_correct_implementation_passes(seed):
    values, X, Y = problem(seed)
    report = symprop.verify(correct, NET, values, X, Y)
    assert report.ok and bool(report)
    assert len(report.rows) == NET.n_params


def test_catalog_is_large_enough():
    assert len(CATALOG) >= 10


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_mistake_is_flagged_with_the_wrong_parameters(name):
    mistake = CATALOG[name]
    values, X, Y = problem(0)
    report = symprop.verify(mistake.fn, NET, values, X, Y)
    assert not report
    expected = wrong_names(mistake)
    assert {r.name for r in report.failures} == expected
    with pytest.raises(AssertionError) as info:
        symprop.assert_gradients_match(mistake.fn, NET, values, X, Y)
    message = str(info.value)
    assert f"{len(expected)} / {NET.n_params} parameters mismatched" in message
    assert mistake.says in message
    listed = re.findall(r"^ ([wb]\d_\d(?:_\d)?) ", message, flags=re.MULTILINE)
    assert listed and set(listed) <= expected
    assert len(listed) == min(len(expected), 10)
    assert f"worst: {report.failures[0].name}:" in message


def test_mistakes_are_caught_on_other_data_too():
    for seed in (3, 4):
        values, X, Y = problem(seed)
        for name, mistake in CATALOG.items():
            report = symprop.verify(mistake.fn, NET, values, X, Y)
            assert {r.name for r in report.failures} == wrong_names(mistake), name
