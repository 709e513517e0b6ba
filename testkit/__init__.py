"""Real stand-ins the tests, the bench and the chaos suite drive: fake model-provider HTTP servers, PostgreSQL control.

Developer tooling: not part of the installed package, and it imports nothing from tests/."""
