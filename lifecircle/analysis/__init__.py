"""Everything computed: network, access, service areas, checks, coverage, gaps, indicators.

Nothing here prints or writes files; progress is reported through callbacks and data problems
through :class:`lifecircle.errors.LifecircleWarning`.
"""
