"""bannercheck: how a domain's mail servers present themselves."""

__version__ = "0.1.0"
