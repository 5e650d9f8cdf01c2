"""Fuzz targets for every parser that reads outside input (see docs/fuzzing.md).

One module per family of inputs; each exposes ``TARGETS``. A target takes arbitrary bytes and
must either return or raise one of the error types it names, with a message; anything else (an
IndexError, a RecursionError, a hang) is a bug in the parser. ``python -m fuzz.run`` drives them
with atheris (coverage-guided libFuzzer); ``tests/test_fuzz.py`` replays a short fixed-seed run.
"""
