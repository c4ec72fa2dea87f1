"""Thresholds and events: /threshold/{name}/json, /threshold/json, /events/json (long-poll)."""

from __future__ import annotations

from aiohttp import web

from . import add_named_resource
from .flows import flows_of, journal_query


async def events(request):
    flows = flows_of(request)
    return await journal_query(
        request, flows.events_since, flows.wait_events, "thresholdID", "eventID", "maxEvents"
    )


def setup(app: web.Application, engine) -> None:
    r = app.router
    add_named_resource(
        r,
        "threshold",
        "flows",
        lambda f, n: f.get_threshold(n),
        lambda f: f.thresholds_json(),
        lambda f, n, b: f.set_threshold(n, b),
        lambda f, n: f.clear_threshold(n),
    )
    r.add_get("/events/json", events)
