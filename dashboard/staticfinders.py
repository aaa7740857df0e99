"""Serve plotly.min.js from the installed plotly package: no CDN, no vendored copy to keep fresh."""

from pathlib import Path

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_JS = "vendor/plotly.min.js"
_PLOTLY_DIR = Path(plotly.__file__).parent / "package_data"


class PlotlyJsFinder(BaseFinder):
    storage = FileSystemStorage(location=_PLOTLY_DIR, base_url="/")
    storage.prefix = "vendor"

    def check(self, **kwargs):
        return []

    def find(self, path, find_all=False, **kwargs):
        # A miss is [] either way, as Django's own finders answer: finders.find() collects any
        # other falsy answer into its list of matches, and WhiteNoise then stats [None] (a 500).
        if path != PLOTLY_JS:
            return []
        found = str(_PLOTLY_DIR / "plotly.min.js")
        return [found] if find_all else found

    def list(self, ignore_patterns):
        yield "plotly.min.js", self.storage
