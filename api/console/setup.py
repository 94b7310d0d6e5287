"""The pages that set the program up, each in its own module with its own router."""

from __future__ import annotations

from api.console import catalogue, earning, tiers

routers = (tiers.router, earning.router, catalogue.router)
