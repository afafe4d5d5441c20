"""``shipyard.ui`` provides the read-only web dashboard (``shipyard ui``).

Pages for runs (filter, sort by a metric, the pipeline graph coloured by
status), artifacts (preview, lineage), datasets (versions, statistics,
diffs), data reports and run comparisons, server-rendered from the stack's
stores opened read-only; each page's data is also JSON under ``/api/``.
FastAPI is imported only by :mod:`shipyard.ui.app`.
"""
