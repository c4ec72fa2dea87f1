"""flowrt's bundled files, installed as the package ``flowrt_resources`` (setup.py maps this
folder to that name): the status UI (html/), shared app assets (inc/), the API explorer and
OpenAPI document (api/) and the default GeoIP databases (geo/). Code finds them through
engine.bundled, never through paths relative to the checkout."""
