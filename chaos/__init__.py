"""Chaos suite: real worker, Temporal, PostgreSQL and Redis processes killed or stopped mid-run (`make chaos`)."""
