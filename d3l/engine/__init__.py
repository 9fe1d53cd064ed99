"""Runner-side components: hooks, loops, schedulers."""
from . import hooks  # noqa: F401
