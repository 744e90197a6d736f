"""The worked examples of the seed notes, built in (networks, data and parameter values)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .spec import Network


@dataclass(frozen=True)
class Example:
    """A worked example: a network, its data, its parameter values and (optionally) what to train."""

    name: str
    title: str
    network: Network
    X: tuple
    Y: tuple
    values: dict[str, Any] = field(hash=False)
    train: tuple[str, ...] | None = None
    lr: float = 0.1
    tol: float | None = None

    def problem_dict(self) -> dict[str, Any]:
        """This example in the form of a parsed problem file (what ``symprop COMMAND seed002`` reads)."""
        as_list = lambda rows: [list(r) if isinstance(r, tuple) else r for r in rows]  # noqa: E731
        raw: dict[str, Any] = {
            "title": f"{self.name}: {self.title}",
            "network": self.network.kwargs(),
            "data": {"x": as_list(self.X), "y": as_list(self.Y)},
            "values": dict(self.values),
            "train": {"lr": self.lr}
            | ({"tol": self.tol} if self.tol is not None else {})
            | ({"params": list(self.train)} if self.train else {}),
        }
        if self.train and len(self.train) == 1:
            raw["derive"] = {"param": self.train[0]}
        return raw


SEED_002 = Example(
    name="seed002",
    title="Fitting the last bias b3 of a 1-2-1 softplus network by gradient descent (SSR)",
    network=Network([1, 2, 1], hidden="softplus", output="identity", loss="ssr", naming="flat"),
    X=(0.0, 0.5, 1.0),  # dosage
    Y=(0.0, 1.0, 0.0),  # efficacy
    # every parameter but b3 is taken as already optimal; b3 starts at 0
    values={"w1": 3.34, "b1": -1.43, "w2": -3.53, "b2": 0.57, "w3": -1.22, "w4": -2.30, "b3": 0.0},
    train=("b3",),
    lr=0.1,
    tol=0.001,
)

SEED_000 = Example(
    name="seed000",
    title="The loss of a 2-2-1 linear regression network is a function of all nine parameters (MSE)",
    network=Network([2, 2, 1], hidden="linear", output="linear", loss="mse"),
    X=((8, 8), (7, 9), (6, 10), (5, 12)),
    Y=(4, 5, 6, 7),
    values={
        "w1_1_1": 0.1,
        "w1_1_2": 0.1,
        "w1_2_1": 0.1,
        "w1_2_2": 0.1,
        "b1_1": 0,
        "b1_2": 0,
        "w2_1_1": 0.1,
        "w2_1_2": 0.1,
        "b2_1": 0,
    },
    lr=0.001,
)

SEED_001 = Example(
    name="seed001",
    title="The four backprop equations on a 2-3-2 sigmoid network with the quadratic cost",
    network=Network([2, 3, 2], hidden="sigmoid", output="sigmoid", loss="quadratic"),
    X=((0.05, 0.10),),
    Y=((0.01, 0.99),),
    values={
        "w1_1_1": 0.15,
        "w1_1_2": 0.20,
        "w1_2_1": 0.25,
        "w1_2_2": 0.30,
        "w1_3_1": 0.35,
        "w1_3_2": 0.40,
        "b1_1": 0.35,
        "b1_2": 0.35,
        "b1_3": 0.35,
        "w2_1_1": 0.40,
        "w2_1_2": 0.45,
        "w2_1_3": 0.50,
        "w2_2_1": 0.55,
        "w2_2_2": 0.60,
        "w2_2_3": 0.65,
        "b2_1": 0.60,
        "b2_2": 0.60,
    },
    lr=0.5,
)

EXAMPLES: dict[str, Example] = {e.name: e for e in (SEED_002, SEED_000, SEED_001)}


def get(name: str) -> Example:
    from .errors import listing, suggest

    try:
        return EXAMPLES[name]
    except KeyError:
        raise ValueError(
            f"unknown example {name!r}; built in: {listing(EXAMPLES)}." + suggest(name, EXAMPLES)
        ) from None
