"""`modelport convert`'s pipeline: plan a route, run each edge isolated, prove it, place the artifact.

It sits above converters/ and validators/ (which never import each other) and is where they meet:
the edge worker runs a converter and then smoke-runs its artifact in a validators/ runtime, and
the route's validation runs validators/validation.py in a worker of its own. See
docs/architecture.md.
"""
