"""The production settings (DEBUG off) for the load test, with plain static storage.

The load test requests pages, never static files; plain storage spares it
``collectstatic`` (the manifest build refuses a vendored file whose source
map is missing, which is no concern of a page's speed).
"""

from clinic.settings import *  # noqa: F403
from clinic.settings import STORAGES

STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Static files from the app directories, as in development: nothing collected,
# so WhiteNoise has no STATIC_ROOT to read (and would warn in every worker).
WHITENOISE_USE_FINDERS = True
