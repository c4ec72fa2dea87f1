"""Build hook for the optional C accelerator (engine/sflow/_accel.c); metadata is in pyproject.toml.

The extension is optional: without a compiler or Python headers the install still succeeds and
the engine runs the pure-Python decoder (engine/sflow/attributes.py).
"""
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing when the accelerator cannot be compiled."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler at all, broken toolchain, ...
            self.warn(f"flowrt: C accelerator not built ({exc}); using the pure-Python decoder")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self.warn(f"flowrt: C accelerator not built ({exc}); using the pure-Python decoder")


setup(
    ext_modules=[Extension("engine.sflow._accel", ["engine/sflow/_accel.c"], optional=True)],
    cmdclass={"build_ext": OptionalBuildExt},
)
