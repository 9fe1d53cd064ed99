"""The embedded benchmark: the synthetic world (:mod:`d3l.benchmark.world`),
the 2D teacher's corpus (:mod:`d3l.benchmark.corpus`) and the demo that runs
the whole method on it (:func:`d3l.benchmark.demo.run_demo`, behind
``tools/demo.py``; plan, parallel jobs and report). Research code beside
the core: nothing in ``d3l.datasets`` or the other packages imports it.
See ``docs/benchmark.md``."""
