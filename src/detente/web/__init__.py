"""The operator console: static assets in ``static/``, shipped inside the package.

The service serves them with ``StaticFiles(packages=[("detente.web", "static")])``, which fails
at start if the folder is missing. See ``static/README.md`` for what is in it and where it
comes from.
"""
