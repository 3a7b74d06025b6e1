"""The authorizer's `typing`-free class helpers behave as `typing`'s own where its modules use them."""

from __future__ import annotations

import pickle
import typing
from datetime import datetime

import pytest

from twostep.domain import cold_start_typing
from twostep.domain.revocation import Revocation
from twostep.domain.tokens import AccessClaims


class TypingPoint(typing.NamedTuple):
    """A point."""

    x: int
    y: int = 2
    label: str = "p"

    @property
    def total(self) -> int:
        return self.x + self.y

    def moved(self, by: int) -> TypingPoint:
        return self._replace(x=self.x + by)

    @classmethod
    def origin(cls) -> TypingPoint:
        return cls(0, 0)

    def __repr__(self) -> str:
        return f"<{self.x},{self.y}>"


class LightPoint(cold_start_typing.NamedTuple):
    """A point."""

    x: int
    y: int = 2
    label: str = "p"

    @property
    def total(self) -> int:
        return self.x + self.y

    def moved(self, by: int) -> LightPoint:
        return self._replace(x=self.x + by)

    @classmethod
    def origin(cls) -> LightPoint:
        return cls(0, 0)

    def __repr__(self) -> str:
        return f"<{self.x},{self.y}>"


def test_the_module_gives_runtime_stand_ins_not_typing() -> None:
    assert cold_start_typing.TYPE_CHECKING is False
    assert cold_start_typing.NamedTuple is not typing.NamedTuple
    assert cold_start_typing.Protocol is not typing.Protocol


def test_a_named_tuple_behaves_as_typings() -> None:
    for point_class in (TypingPoint, LightPoint):
        point = point_class(1)
        assert isinstance(point, tuple)
        assert point == (1, 2, "p")
        assert point_class._fields == ("x", "y", "label")
        assert point_class._field_defaults == {"y": 2, "label": "p"}
        assert list(point_class.__annotations__) == ["x", "y", "label"]
        assert point.total == 3
        assert point.moved(4) == point_class(5, 2, "p")
        assert point_class.origin() == (0, 0, "p")
        assert point._asdict() == {"x": 1, "y": 2, "label": "p"}
        assert repr(point) == "<1,2>"
        assert point_class.__doc__ == "A point."
        assert point_class.__module__ == __name__
        assert point_class.__qualname__ == point_class.__name__
        assert pickle.loads(pickle.dumps(point)) == point
        assert point_class._make([7, 8, "q"]) == (7, 8, "q")
        with pytest.raises(AttributeError):
            point.x = 3  # type: ignore[misc]
        with pytest.raises(TypeError):
            point_class()  # type: ignore[call-arg]


def test_a_named_tuple_refuses_what_typing_refuses() -> None:
    with pytest.raises(TypeError):

        class DefaultFirst(cold_start_typing.NamedTuple):
            x: int = 1
            y: int  # type: ignore[misc]

    with pytest.raises(AttributeError):

        class Overwrites(cold_start_typing.NamedTuple):
            x: int

            def _replace(self, **changes: int) -> Overwrites:  # type: ignore[override]
                return self


def test_the_product_records_built_without_typing_are_named_tuples() -> None:
    claims = AccessClaims("u1", "a@example.com", "j1", 1, 2, ("pwd",), "s1", 0)
    assert claims._replace(sub="u2").sub == "u2"
    assert pickle.loads(pickle.dumps(claims)) == claims
    assert Revocation("s1", datetime(2026, 1, 1))._asdict()["session_id"] == "s1"


def test_protocol_and_generic_are_plain_bases() -> None:
    class Reader(cold_start_typing.Protocol):
        def read(self) -> int: ...

    class Box(cold_start_typing.Generic[int]):  # type: ignore[misc]
        pass

    class Implements(Reader):
        def read(self) -> int:
            return 1

    assert Implements().read() == 1
    assert Box[str] is Box  # type: ignore[misc]
    assert cold_start_typing.TypeVar("T") == "T"
