"""Other projects' private internals that gilfree relies on, one module each.

Each module names the versions it was checked against, offers the public
fallback, and has a test that fails loudly when the private path stops
working (rather than only falling back in silence).
"""
