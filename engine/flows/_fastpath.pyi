"""Type stub for the optional C flow pipeline (engine/flows/_fastpath.c).

Keep in step with the Pipeline type in the C file. The __getattr__ functions keep a name added
to the C file usable (as Any) before it is written down here.
"""

from collections.abc import Callable
from typing import Any

class Pipeline:
    ndefs: int
    nslots: int
    source: str | None
    def __init__(
        self,
        slots: tuple[Any, ...],
        defs: tuple[Any, ...],
        on_error: Callable[..., Any],
        exp: Callable[[float], float],
        source: str | None = ...,
    ) -> None: ...
    def __call__(self, attrs: Any, agent: Any, ds: Any, rate: Any, now: float) -> Any: ...
    def __getattr__(self, name: str) -> Any: ...

def __getattr__(name: str) -> Any: ...
