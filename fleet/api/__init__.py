"""The fleet's HTTP API (FastAPI, OpenAPI at /docs): one router per resource in routes/."""
