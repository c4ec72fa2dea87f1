"""Build hook for the optional C extensions; metadata is in pyproject.toml.

- engine/sflow/_accel.c (+ _agents.c, _ingest.c, _counters.c): the decoder accelerator, the
  agent records and the batch ingest path (else the pure-Python decoder, engine/sflow/attributes.py, the
  AgentStats of engine/agents.py and the Python ingest of engine/ingest.py);
- engine/_net.c: the collector's receive thread and batch sender (else the asyncio endpoint,
  engine/collector.py).
- engine/flows/_fastpath.c: the per-sample flow pipeline (else the generated Python function,
  engine/flows/pipeline.py).

All are optional: without a compiler or Python headers the install still succeeds.
"""
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing when an extension cannot be compiled."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler at all, broken toolchain, ...
            self.warn(f"flowrt: C extensions not built ({exc}); using the pure-Python paths")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self.warn(f"flowrt: C extension {ext.name} not built ({exc}); using its pure-Python path")


setup(
    ext_modules=[Extension("engine.sflow._accel", ["engine/sflow/_accel.c", "engine/sflow/_agents.c",
                                                      "engine/sflow/_ingest.c",
                                                      "engine/sflow/_counters.c"],
                           depends=["engine/sflow/_accel.h", "engine/sflow/_counters.h",
                                    "engine/flows/_fastpath_api.h"],
                           optional=True),
                 Extension("engine._net", ["engine/_net.c"], optional=True),
                 # no fused multiply-add: flow-cache updates must round exactly like the
                 # Python fallback (engine/flows/pipeline.py)
                 Extension("engine.flows._fastpath", ["engine/flows/_fastpath.c"], optional=True,
                           depends=["engine/flows/_fastpath_api.h"],
                           extra_compile_args=["-ffp-contract=off"])],
    cmdclass={"build_ext": OptionalBuildExt},
)
