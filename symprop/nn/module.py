"""``Module``: frozen layer specifications with their forward and local backward rule side by side.

Every layer kind is a frozen dataclass (no attribute can be set or added after construction; equal
models are equal and hash equal, so a model is a cache key).  Per kind it defines

* ``param_shapes(in_shape)`` / ``buffer_shapes(in_shape)``: torch's names, shapes and registration
  order (``in_shape`` is one sample's shape; the batch dimension is excluded);
* ``out_shape(in_shape)``;
* ``forward(ar, x, params, buffers) -> (y, backprop)`` with ``backprop(dy, need_dx=True) -> (dx, {name: dparam})``
  (``need_dx=False``: the input needs no gradient, dx may be None; backprop must not modify ``dy``):
  the layer's local backward rule (J^T dy and the parameter gradients), written once against the
  arithmetic ``ar`` (see ``symprop.nn.arith``) and run on floats, multi-precision numbers and SymPy
  expressions alike;
* ``latex_forward()`` / ``latex_delta()``: one-line LaTeX of the forward equation and of the delta rule.

Containers (``Sequential``, ``Residual``) pass their children the parameters under the child's prefix
("0.weight" -> child "0" gets "weight"), exactly as torch's state-dict names are built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import SympropError

Backprop = Callable[[np.ndarray], tuple[np.ndarray, dict[str, np.ndarray]]]


class ShapeError(SympropError, ValueError):
    """An input or parameter whose shape does not fit the layer."""


def _no_params(dy: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    return dy, {}


@dataclass(frozen=True, repr=False)
class Module:
    """Base class of every layer kind (frozen; ``training`` is True by default, as in torch)."""

    training: bool = field(default=True, kw_only=True, compare=True)

    #: the kind's name in reports and proofs (the class name unless a kind overrides it)
    @property
    def kind(self) -> str:
        return type(self).__name__

    #: parameter names that the l2 penalty lam * sum(p**2) applies to (Linear/conv "weight")
    l2_params: ClassVar[tuple[str, ...]] = ()

    # ----------------------------------------------------------------- structure
    def param_shapes(self, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return {}

    def buffer_shapes(self, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return {}

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(in_shape)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        return iter(())

    def children(self) -> Iterator[Module]:
        return (m for _, m in self.named_children())

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module and every descendant, depth first (as torch)."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def leaves(self, in_shape: tuple[int, ...], prefix: str = "") -> Iterator[tuple[str, Module, tuple[int, ...]]]:
        """(dotted name, leaf layer, its per-sample input shape) in forward order."""
        yield prefix, self, tuple(in_shape)

    # ----------------------------------------------------------------- the forward and its local backward rule
    def forward(self, ar, x: np.ndarray, params: Mapping[str, np.ndarray], buffers: Mapping[str, np.ndarray]):
        raise NotImplementedError

    # ----------------------------------------------------------------- proof
    def proof_case(self, in_shape: tuple[int, ...]) -> tuple[Module, tuple[int, ...], int] | None:
        """(a small instance of this kind with the same options, its per-sample input shape, batch size)
        on which ``symprop.nn.prove`` checks the backward rule with generic symbols.  The default is the
        module itself on ``in_shape`` with 2 samples; kinds with sizes override it to stay small."""
        return self, tuple(in_shape), 2

    # ----------------------------------------------------------------- notation
    def latex_forward(self, x: str = r"a^{[l-1]}", y: str = r"a^{[l]}") -> str:
        return f"{y} = {type(self).__name__}\\left({x}\\right)"

    def latex_delta(self, dy: str = r"\delta^{[l]}", dx: str = r"\delta^{[l-1]}", x: str = r"a^{[l-1]}") -> str:
        return f"{dx} = J^\\top {dy}"

    # ----------------------------------------------------------------- modes (torch's names)
    def train(self, mode: bool = True) -> Module:
        """A frozen copy in training mode (``mode=False``: evaluation mode), children included."""
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode): mode must be a bool, got {mode!r}")
        return self._with_training(mode)

    def eval(self) -> Module:
        """A frozen copy in evaluation mode, children included (torch's ``model.eval()``)."""
        return self._with_training(False)

    def _with_training(self, mode: bool) -> Module:
        return self if self.training == mode else dataclasses.replace(self, training=mode)

    # ----------------------------------------------------------------- display
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


def _sub(params: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    n = len(prefix)
    return {k[n:]: v for k, v in params.items() if k.startswith(prefix)}


def _indent(text: str) -> str:
    lines = text.split("\n")
    return "\n".join([lines[0]] + ["  " + line for line in lines[1:]])


@dataclass(frozen=True, repr=False, init=False)
class Sequential(Module):
    """Children run in order; named "0", "1", ... (state-dict names "0.weight", nested "1.0.weight")."""

    modules: tuple[Module, ...] = ()

    def __init__(self, *modules: Module, training: bool = True) -> None:
        if len(modules) == 1 and isinstance(modules[0], (list, tuple)):
            modules = tuple(modules[0])
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(
                    f"Sequential: argument {i} must be a symprop.nn module such as Linear(2, 3) or ReLU(), "
                    f"got {m!r} ({type(m).__name__})"
                )
        object.__setattr__(self, "modules", tuple(modules))
        object.__setattr__(self, "training", bool(training))

    def named_children(self):
        return ((str(i), m) for i, m in enumerate(self.modules))

    def __len__(self) -> int:
        return len(self.modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.modules)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self.modules[index], training=self.training)
        try:
            return self.modules[index]
        except (IndexError, TypeError):
            raise IndexError(f"Sequential index {index!r} out of range for {len(self)} modules") from None

    def param_shapes(self, in_shape):
        out = {}
        for name, child, shape in self._walk(in_shape):
            out |= {f"{name}.{k}": v for k, v in child.param_shapes(shape).items()}
        return out

    def buffer_shapes(self, in_shape):
        out = {}
        for name, child, shape in self._walk(in_shape):
            out |= {f"{name}.{k}": v for k, v in child.buffer_shapes(shape).items()}
        return out

    def out_shape(self, in_shape):
        shape = tuple(in_shape)
        for m in self.modules:
            shape = m.out_shape(shape)
        return shape

    def _walk(self, in_shape):
        shape = tuple(in_shape)
        for name, child in self.named_children():
            yield name, child, shape
            shape = child.out_shape(shape)

    def leaves(self, in_shape, prefix=""):
        for name, child, shape in self._walk(in_shape):
            yield from child.leaves(shape, f"{prefix}.{name}" if prefix else name)

    def forward(self, ar, x, params, buffers):
        backs = []
        for name, child in self.named_children():
            pre = name + "."
            x, back = child.forward(ar, x, _sub(params, pre), _sub(buffers, pre))
            backs.append((pre, back))

        def backprop(dy, need_dx=True):
            grads: dict[str, np.ndarray] = {}
            for i, (pre, back) in reversed(list(enumerate(backs))):
                dy, g = back(dy, need_dx=need_dx or i > 0)
                for k, v in g.items():
                    grads[pre + k] = v
            return dy, grads

        return x, backprop

    def proof_case(self, in_shape):
        """The container's own rule (the chain rule in reverse order) on a small composition."""
        from .activation import Tanh
        from .linear import Linear

        return Sequential(Linear(3, 2), Tanh(), training=self.training), (3,), 2

    def latex_forward(self, x=r"a^{[0]}", y=r"a^{[L]}"):
        return f"{y} = f_{{{len(self) - 1}}} \\circ \\cdots \\circ f_0\\left({x}\\right)"

    def latex_delta(self, dy=r"\delta^{[L]}", dx=r"\delta^{[0]}", x=r"a^{[0]}"):
        return f"{dx} = J_0^\\top \\cdots J_{{{len(self) - 1}}}^\\top {dy}"

    def _with_training(self, mode):
        return Sequential(*(m._with_training(mode) for m in self.modules), training=mode)

    def __repr__(self) -> str:
        if not self.modules:
            return "Sequential()"
        body = "\n".join(f"  ({name}): {_indent(repr(m))}" for name, m in self.named_children())
        return f"Sequential(\n{body}\n)"


@dataclass(frozen=True, repr=False)
class Residual(Module):
    """y = x + block(x) (symprop's own; torch has no such module).  Child name "block"."""

    block: Module

    def __post_init__(self) -> None:
        if not isinstance(self.block, Module):
            raise TypeError(f"Residual(block): block must be a symprop.nn module, got {self.block!r}")

    def named_children(self):
        return iter((("block", self.block),))

    def _check(self, in_shape):
        out = self.block.out_shape(in_shape)
        if tuple(out) != tuple(in_shape):
            raise ShapeError(
                f"Residual: the block maps shape {tuple(in_shape)} to {tuple(out)}; y = x + block(x) needs "
                "the same shape in and out"
            )

    def param_shapes(self, in_shape):
        self._check(in_shape)
        return {f"block.{k}": v for k, v in self.block.param_shapes(in_shape).items()}

    def buffer_shapes(self, in_shape):
        return {f"block.{k}": v for k, v in self.block.buffer_shapes(in_shape).items()}

    def out_shape(self, in_shape):
        self._check(in_shape)
        return tuple(in_shape)

    def leaves(self, in_shape, prefix=""):
        yield from self.block.leaves(in_shape, f"{prefix}.block" if prefix else "block")

    def forward(self, ar, x, params, buffers):
        y, back = self.block.forward(ar, x, _sub(params, "block."), _sub(buffers, "block."))
        if y.shape != x.shape:
            raise ShapeError(f"Residual: the block maps shape {x.shape[1:]} to {y.shape[1:]}; they must match")

        def backprop(dy, need_dx=True):
            dx, g = back(dy, need_dx=need_dx)
            return (dx + dy if need_dx else None), {"block." + k: v for k, v in g.items()}

        return x + y, backprop

    def proof_case(self, in_shape):
        """The container's own rule (dx = dy + J^T dy) on a small block."""
        from .activation import Tanh
        from .linear import Linear

        return Residual(Sequential(Linear(2, 2), Tanh()), training=self.training), (2,), 2

    def latex_forward(self, x=r"a^{[l-1]}", y=r"a^{[l]}"):
        return f"{y} = {x} + F\\left({x}\\right)"

    def latex_delta(self, dy=r"\delta^{[l]}", dx=r"\delta^{[l-1]}", x=r"a^{[l-1]}"):
        return f"{dx} = {dy} + J_F^\\top {dy}"

    def _with_training(self, mode):
        return Residual(self.block._with_training(mode), training=mode)

    def __repr__(self) -> str:
        return f"Residual(\n  (block): {_indent(repr(self.block))}\n)"
