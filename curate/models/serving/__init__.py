"""`curate serve`: the merged predictor as an HTTP endpoint (SageMaker inference-container contract).

- `config`  the settings (`ServeConfig`), one frozen value for every worker process
- `inputs`  a request's body and headers -> an RGB image, or a `RequestError` with its status
- `batcher` micro-batching of concurrent requests onto one inference thread
- `openapi` the hand-written OpenAPI description of `POST /invocations`
- `app`     the FastAPI application (FastAPI imported inside `create_app`)
- `server`  uvicorn: one process or `--workers N`, graceful shutdown on SIGTERM
"""
