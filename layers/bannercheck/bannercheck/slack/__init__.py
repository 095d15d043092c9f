"""The Slack front: ``/bannercheck`` parsing, the Bolt app and its handlers.

Bolt is imported only by :mod:`bannercheck.slack.app`, so parsing and
rendering stay importable (and testable) without it.
"""
