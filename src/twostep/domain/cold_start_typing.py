"""`typing`'s class helpers for the modules the Lambda authorizer imports, without importing `typing`.

Importing `typing` is 3-4 ms of an authorizer's cold start (~40 ms to the first `Allow` on the bench's
machine; it builds its generic aliases and protocol machinery), and the authorizer needs none of it while
it runs. Type checkers see `typing`'s own names here. At run time:

- `NamedTuple` builds each class with `collections.namedtuple`, as `typing.NamedTuple` does: fields and
  defaults from the class's annotations, its methods and properties copied over (a test holds the two to
  the same behaviour);
- `Protocol` is a plain base class: no code checks a protocol with `isinstance`;
- `Generic[...]` gives back `Generic`, and a `TypeVar` is its name: they only feed annotations, which
  `from __future__ import annotations` never evaluates.

Modules the API alone imports use `typing` itself.
"""

from __future__ import annotations

__all__ = ["TYPE_CHECKING", "Generic", "NamedTuple", "Protocol", "TypeVar"]

TYPE_CHECKING = False  # typing.TYPE_CHECKING's value at run time; type checkers treat the name as true

if TYPE_CHECKING:
    from typing import Generic, NamedTuple, Protocol, TypeVar
else:
    from collections import namedtuple

    # What a NamedTuple class body may not define, and what is not copied onto the class (as in typing).
    _PROHIBITED = frozenset(
        {"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults", "_make"}
        | {"_replace", "_asdict", "_source"}
    )
    _NOT_COPIED = frozenset({"__module__", "__name__", "__annotations__"})

    class _NamedTupleBuilder(type):
        def __new__(cls, name, bases, namespace):
            if not bases:  # NamedTuple itself
                return super().__new__(cls, name, bases, namespace)
            annotations = dict(namespace.get("__annotations__", {}))
            defaults = [namespace[field] for field in annotations if field in namespace]
            if any(field in namespace for field in list(annotations)[: len(annotations) - len(defaults)]):
                raise TypeError(f"{name}: a field without a default follows one with a default")
            built = namedtuple(name, annotations, defaults=defaults, module=namespace["__module__"])
            built.__annotations__ = annotations
            for key, value in namespace.items():
                if key in _PROHIBITED:
                    raise AttributeError(f"{name}: cannot overwrite NamedTuple attribute {key}")
                if key not in _NOT_COPIED and key not in annotations:
                    setattr(built, key, value)
            return built

    class NamedTuple(metaclass=_NamedTupleBuilder):
        pass

    class Protocol:
        __slots__ = ()

    class Generic:
        __slots__ = ()

        def __class_getitem__(cls, parameters):
            return cls

    def TypeVar(name, *constraints, **options):  # noqa: N802 - typing's name
        return name
