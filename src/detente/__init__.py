"""detente: a neutral deconfliction mechanism for parties that share an airspace.

Layers (imports point down only)::

    cli / api / web            edges: parse, authenticate, render
    service                    orchestration: picture, alerting, hotline, sharing
    store, ledger              durable state, tamper-evident log
    engines                    pure, vectorised conflict kernels
    model, geo                 data contracts, units and projections

Inside the package every quantity is SI: metres, metres per second, seconds (float UTC epoch),
degrees for latitude, longitude and track (true north, clockwise).
"""

__version__ = "0.1.0"
