"""clinic.settings with DEBUG on: for the tests and for mypy's Django plugin.

clinic.settings leaves DEBUG off unless the environment turns it on, and then
wants a real SECRET_KEY. pytest (pyproject.toml) and mypy's Django plugin
import settings before any conftest or Makefile variable could help, so they
load this module instead. ``make run`` and the other make targets export
DEBUG=true themselves (Makefile); a server never loads this module.
"""

import os

# Set before clinic.settings reads it, and kept in the environment so that the
# processes the tests start (manage.py, the load test) run in development too.
os.environ["DEBUG"] = "true"

from clinic.settings import *  # noqa: F403
