"""minewatch: find hidden cryptocurrency mining and measure what it costs."""

__version__ = "0.1.0"
