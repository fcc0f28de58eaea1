"""Operational analytics over the built tables (issue 5): resolution, backlog, bottlenecks."""
