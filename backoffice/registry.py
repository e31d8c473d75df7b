"""Registries: how a lower package asks a question that only higher ones can answer.

The dependency rule (faces → domain packages → ledger → backoffice) forbids a lower package to
import a higher one. When the ledger must report the payments' money invariants, or closing an
account must know about withdrawals in flight, the lower package offers a ``Registry`` and the
higher one registers its answer from ``AppConfig.ready()``. The lower package then asks every
registered function, in registration order, without knowing who they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator


class Registry:
    """An ordered set of named callables. Registering the same name again replaces the function
    (``ready()`` may run more than once in tests), never duplicates it."""

    def __init__(self, description: str) -> None:
        self.description = description
        self._entries: dict[str, Callable] = {}

    def register(self, name: str, function: Callable) -> Callable:
        self._entries[name] = function
        return function

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def __iter__(self) -> Iterator[tuple[str, Callable]]:
        return iter(list(self._entries.items()))

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def get(self, name: str) -> Callable | None:
        return self._entries.get(name)

    def __repr__(self) -> str:
        return f"<Registry {self.description}: {', '.join(self._entries) or 'empty'}>"
