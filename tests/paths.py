"""Where the shared test data lives: ../shared beside the checkout (as in CI, which lays a copy
of shared/ beside its clone), or wherever FLOWRT_SHARED points."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FLOWRT_SHARED", REPO.parent / "shared"))
TESTDATA = SHARED / "testdata"
SFLOW_DATA = TESTDATA / "sflow"
GEOIP_DATA = TESTDATA / "geoip"
SEED_SCRIPTS = SHARED / "seed" / "scripts"
