"""Measuring a model on this device, headless: the engine's speed and memory, optionally
against a raw llama-cpp-python loop, as plain dataclasses.

``burrow bench`` (``tui.cli.bench``), the model picker and the scripts in ``bench/`` all use
this package; none of it prints or draws. The modules:

- :mod:`tui.bench.system`: the device and a process's memory, from ``/proc``;
- :mod:`tui.bench.baseline`: the raw loop in a child process (:mod:`tui.bench.rawloop`);
- :mod:`tui.bench.runs`: one benchmark, step by step, into a result;
- :mod:`tui.bench.results`: the result, its JSON form, saving and loading it;
- :mod:`tui.bench.table`: the result as the plain-text table both front ends show.

This file imports nothing so ``python -m tui.bench.rawloop`` starts without extra imports.
"""
