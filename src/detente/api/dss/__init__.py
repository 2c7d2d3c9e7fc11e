"""The ASTM F3548-21 DSS interface (/dss/v1/): drone operators' software (USSs) use detente as
their Discovery and Synchronization Service. ``router`` joins it to the app."""

from detente.api.dss.routes import router

__all__ = ["router"]
