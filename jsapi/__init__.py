"""flowrt's JavaScript runtime: sFlow-RT scripts and apps in V8 (mini-racer), one isolate and
one thread per script, with synchronous host calls (see bridge.py and docs/scripting.md).

Other subsystems add globals with the ``js_global`` decorator (see jsapi.registry)."""

from .registry import JSThrow, RawJSON, js_global, register_global

__all__ = ["JSThrow", "RawJSON", "js_global", "register_global"]
