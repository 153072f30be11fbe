"""Affine expressions and maps, as used by indexing maps of ``tensor.generic`` and layouts.

Expressions are immutable trees built with Python operators (``d0 * 4 + s0``); construction
folds constants and orders operands canonically, so equal maps print identically.
"""

from __future__ import annotations

from dataclasses import dataclass


class AffineExpr:
    __slots__ = ()

    def __add__(self, other: AffineExpr | int) -> AffineExpr:
        return _binary("+", self, _lift(other))

    def __radd__(self, other: int) -> AffineExpr:
        return _binary("+", _lift(other), self)

    def __mul__(self, other: AffineExpr | int) -> AffineExpr:
        return _binary("*", self, _lift(other))

    def __rmul__(self, other: int) -> AffineExpr:
        return _binary("*", _lift(other), self)

    def __neg__(self) -> AffineExpr:
        return self * -1

    def __sub__(self, other: AffineExpr | int) -> AffineExpr:
        return self + (-_lift(other))

    def __rsub__(self, other: int) -> AffineExpr:
        return _lift(other) + (-self)

    def floordiv(self, other: AffineExpr | int) -> AffineExpr:
        return _binary("floordiv", self, _lift(other))

    def ceildiv(self, other: AffineExpr | int) -> AffineExpr:
        return _binary("ceildiv", self, _lift(other))

    def __mod__(self, other: AffineExpr | int) -> AffineExpr:
        return _binary("mod", self, _lift(other))

    def evaluate(self, dims: tuple[int, ...], symbols: tuple[int, ...] = ()) -> int:
        raise NotImplementedError  # pragma: no cover - abstract

    def __str__(self) -> str:
        return self.render(0)

    def render(self, parent_prec: int) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True, slots=True, repr=False)
class AffineDimExpr(AffineExpr):
    position: int

    def evaluate(self, dims: tuple[int, ...], symbols: tuple[int, ...] = ()) -> int:
        return dims[self.position]

    def render(self, parent_prec: int) -> str:
        return f"d{self.position}"


@dataclass(frozen=True, slots=True, repr=False)
class AffineSymbolExpr(AffineExpr):
    position: int

    def evaluate(self, dims: tuple[int, ...], symbols: tuple[int, ...] = ()) -> int:
        return symbols[self.position]

    def render(self, parent_prec: int) -> str:
        return f"s{self.position}"


@dataclass(frozen=True, slots=True, repr=False)
class AffineConstantExpr(AffineExpr):
    value: int

    def evaluate(self, dims: tuple[int, ...], symbols: tuple[int, ...] = ()) -> int:
        return self.value

    def render(self, parent_prec: int) -> str:
        return str(self.value)


_PREC = {"+": 1, "*": 2, "floordiv": 2, "ceildiv": 2, "mod": 2}


@dataclass(frozen=True, slots=True, repr=False)
class AffineBinaryExpr(AffineExpr):
    kind: str  # "+", "*", "floordiv", "ceildiv", "mod"
    lhs: AffineExpr
    rhs: AffineExpr

    def evaluate(self, dims: tuple[int, ...], symbols: tuple[int, ...] = ()) -> int:
        a = self.lhs.evaluate(dims, symbols)
        b = self.rhs.evaluate(dims, symbols)
        return _apply(self.kind, a, b)

    def render(self, parent_prec: int) -> str:
        prec = _PREC[self.kind]
        if self.kind == "+":
            rhs = self.rhs
            # Print x + (y * -1) as x - y, and x + -c as x - c, as MLIR does.
            if isinstance(rhs, AffineConstantExpr) and rhs.value < 0:
                text = f"{self.lhs.render(prec)} - {-rhs.value}"
            elif (
                isinstance(rhs, AffineBinaryExpr)
                and rhs.kind == "*"
                and isinstance(rhs.rhs, AffineConstantExpr)
                and rhs.rhs.value == -1
            ):
                text = f"{self.lhs.render(prec)} - {rhs.lhs.render(prec + 1)}"
            else:
                # The right operand of + is parenthesised when it is itself a sum, so the
                # text reads back (left-associatively) as the same tree.
                text = f"{self.lhs.render(prec)} + {self.rhs.render(prec + 1)}"
        else:
            op = " * " if self.kind == "*" else f" {self.kind} "
            text = f"{self.lhs.render(prec)}{op}{self.rhs.render(prec + 1)}"
        return f"({text})" if prec < parent_prec else text


def _apply(kind: str, a: int, b: int) -> int:
    if kind == "+":
        return a + b
    if kind == "*":
        return a * b
    if kind == "floordiv":
        return a // b
    if kind == "ceildiv":
        return -((-a) // b)
    return a % b


def _lift(x: AffineExpr | int) -> AffineExpr:
    if isinstance(x, AffineExpr):
        return x
    if isinstance(x, int):
        return AffineConstantExpr(x)
    raise TypeError(f"cannot use {type(x).__name__} in an affine expression")


def _binary(kind: str, lhs: AffineExpr, rhs: AffineExpr) -> AffineExpr:
    lc = isinstance(lhs, AffineConstantExpr)
    rc = isinstance(rhs, AffineConstantExpr)
    if lc and rc and not (kind in ("floordiv", "ceildiv", "mod") and rhs.value == 0):
        return AffineConstantExpr(_apply(kind, lhs.value, rhs.value))
    if kind in ("+", "*") and lc and not rc:
        lhs, rhs = rhs, lhs  # constants go to the right
        rc = True
    if rc:
        v = rhs.value
        if kind == "+" and v == 0:
            return lhs
        if kind == "*" and v == 1:
            return lhs
        if kind == "*" and v == 0:
            return rhs
        if kind in ("floordiv", "ceildiv") and v == 1:
            return lhs
    return AffineBinaryExpr(kind, lhs, rhs)


def dim(i: int) -> AffineDimExpr:
    return AffineDimExpr(i)


def sym(i: int) -> AffineSymbolExpr:
    return AffineSymbolExpr(i)


def const(v: int) -> AffineConstantExpr:
    return AffineConstantExpr(v)


@dataclass(frozen=True, slots=True, repr=False)
class AffineMap:
    """``(d0, ..., dn)[s0, ...] -> (e0, ..., em)``."""

    num_dims: int
    num_symbols: int
    results: tuple[AffineExpr, ...]

    @staticmethod
    def identity(rank: int) -> AffineMap:
        return AffineMap(rank, 0, tuple(AffineDimExpr(i) for i in range(rank)))

    @staticmethod
    def permutation(perm: tuple[int, ...] | list[int]) -> AffineMap:
        return AffineMap(len(perm), 0, tuple(AffineDimExpr(p) for p in perm))

    @staticmethod
    def from_dims(num_dims: int, positions: tuple[int, ...] | list[int]) -> AffineMap:
        """A projection selecting the given loop dimensions (e.g. a reduction output map)."""
        return AffineMap(num_dims, 0, tuple(AffineDimExpr(p) for p in positions))

    def evaluate(self, dims: tuple[int, ...], symbols: tuple[int, ...] = ()) -> tuple[int, ...]:
        return tuple(e.evaluate(dims, symbols) for e in self.results)

    @property
    def is_identity(self) -> bool:
        return self.num_symbols == 0 and self.results == tuple(
            AffineDimExpr(i) for i in range(self.num_dims)
        )

    @property
    def is_projected_permutation(self) -> bool:
        """Every result is a distinct dimension (broadcasts and transposes are of this kind)."""
        seen = set()
        for e in self.results:
            if not isinstance(e, AffineDimExpr) or e.position in seen:
                return False
            seen.add(e.position)
        return True

    def __str__(self) -> str:
        dims = ", ".join(f"d{i}" for i in range(self.num_dims))
        text = f"({dims})"
        if self.num_symbols:
            text += "[" + ", ".join(f"s{i}" for i in range(self.num_symbols)) + "]"
        return text + " -> (" + ", ".join(str(e) for e in self.results) + ")"
