"""Packages and the optional C extensions; the metadata is in pyproject.toml.

Packages: engine and jsapi, and the checkout's resources/ folder installed as the package
flowrt_resources (a package-dir mapping keeps the folder where the design card puts it while a
wheel carries it as package data; engine/bundled.py finds it through importlib.resources).

C extensions:

- engine/sflow/_accel.c (+ _agents.c, _ingest.c, _counters.c): the decoder accelerator, the
  agent records and the batch ingest path (else the pure-Python decoder,
  engine/sflow/attributes.py, the AgentStats of engine/agents.py and the Python ingest of
  engine/ingest.py);
- engine/_net.c: the collector's receive thread and batch sender (else the asyncio endpoint,
  engine/collector.py).
- engine/flows/_fastpath.c: the per-sample flow pipeline (else the generated Python function,
  engine/flows/pipeline.py).

All are optional: without a compiler or Python headers the install still succeeds.
engine/native.py loads them and reports which paths run natively. The headers _layouts.h and
_fastpath_ops.h are generated from the Python declarations and committed
(engine/native_headers.py; a test checks them), so a build needs no Python step.
"""

import os

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

EXAMPLE_CONF = os.path.join("conf.d", "flowrt.conf")


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
            self.warn(
                f"flowrt: C extension {ext.name} not built ({exc}); using its pure-Python path"
            )


class BuildPyWithExampleConf(build_py):
    """build_py that also puts the example conf.d/flowrt.conf into the wheel's resources, so
    `flowrt --help` can name a copy when there is no checkout (engine/bundled.py)."""

    def run(self):
        super().run()
        if not getattr(self, "editable_mode", False):  # an editable install reads the checkout's
            target = os.path.join(self.build_lib, "flowrt_resources", EXAMPLE_CONF)
            self.mkpath(os.path.dirname(target))
            self.copy_file(EXAMPLE_CONF, target)


setup(
    packages=find_packages(include=["engine", "engine.*", "jsapi", "jsapi.*"])
    + ["flowrt_resources"],
    package_dir={"flowrt_resources": "resources"},
    ext_modules=[
        Extension(
            "engine.sflow._accel",
            [
                "engine/sflow/_accel.c",
                "engine/sflow/_agents.c",
                "engine/sflow/_ingest.c",
                "engine/sflow/_counters.c",
            ],
            depends=[
                "engine/sflow/_accel.h",
                "engine/sflow/_counters.h",
                "engine/sflow/_layouts.h",
                "engine/flows/_fastpath_api.h",
                "engine/flows/_fastpath_ops.h",
            ],
            optional=True,
        ),
        Extension("engine._net", ["engine/_net.c"], optional=True),
        # no fused multiply-add: flow-cache updates must round exactly like the
        # Python fallback (engine/flows/pipeline.py)
        Extension(
            "engine.flows._fastpath",
            ["engine/flows/_fastpath.c"],
            optional=True,
            depends=["engine/flows/_fastpath_api.h", "engine/flows/_fastpath_ops.h"],
            extra_compile_args=["-ffp-contract=off"],
        ),
    ],
    cmdclass={"build_ext": OptionalBuildExt, "build_py": BuildPyWithExampleConf},
)
