"""Deferred acceptance in C for :mod:`wbl_matcher.engine.acceptance`.

``wbl_match_core._core`` exists only where the extension was built (a C compiler at
install time); the matcher imports it if it can and otherwise solves in pure Python,
with the same results.
"""
