"""Names of enumerated sFlow field values that the decoder (flow_records), the fast path's flow
keys (attributes) and the encoder share: one table each, imported, never copied."""
from __future__ import annotations

# sFlow application structures (app_operation etc.): status codes 0..10, as flow keys name them
APP_STATUS = ("SUCCESS", "OTHER", "TIMEOUT", "INTERNAL_ERROR", "BAD_REQUEST", "FORBIDDEN",
              "TOO_LARGE", "NOT_IMPLEMENTED", "NOT_FOUND", "UNAVAILABLE", "UNAUTHORIZED")
# the decoded records print code 10 as sflowtool does (sic); the encoder accepts both spellings
APP_STATUS_SFLOWTOOL = APP_STATUS[:10] + ("UNATHORIZED",)

# extended_tcp_info (0:2209) direction
TCP_DIRECTION = ("unknown", "received", "sent")
