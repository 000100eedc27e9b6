"""Reporting stage: summaries over seeds and sessions, the paper's tables, figures."""
