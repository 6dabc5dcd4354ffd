"""Builds the optional C extension; a machine without a C compiler installs the package
without it (``optional=True``) and the matcher solves in pure Python."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "wbl_match_core._core",
            ["src/wbl_match_core/_core.c"],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]
)
