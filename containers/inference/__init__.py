"""Inference image: the SageMaker serving contract (`python -m containers.inference serve`).

Endpoints
    GET  /ping                  200 (empty body) once this worker has the model; 503 + JSON before.
    POST /invocations           score rows (below).
    GET  /execution-parameters  batch-transform hints (MaxConcurrentTransforms, MULTI_RECORD, MaxPayloadInMB).

Requests (features only, in metadata.json order; an empty field / null / absent key is missing)
    text/csv          one row per line, no header; quoted fields allowed.
    application/json  {"instances": [[v, ...], ...]}, {"instances": [{"features": [v, ...]}, ...]},
                      [[v, ...], ...] or records [{"feature": v, ...}, ...] (unknown keys rejected).

Responses (type chosen by Accept; missing or */* -> SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT,
default application/json as in the SageMaker inference toolkit; text/* -> CSV, application/* -> JSON)
    classification, application/json:
        {"predictions": [{"predicted_label": 1, "score": 0.93, "probabilities": {"0": 0.07, "1": 0.93}}, ...]}
        `predicted_label` keeps the training label's JSON type; `score` is p(second class) for a binary
        model (the positive class, as in SageMaker's built-in algorithms and capture samples) and
        p(predicted_label) for a multiclass one; `probabilities` is keyed by str(label).
    classification, text/csv: one line per row,
        `label,p(class 0),p(class 1),...` in metadata.json `classes` order.
    regression: {"predictions": [{"score": 12.5}, ...]} or one `12.5` line per row.
    application/jsonlines: the JSON items one per line; application/x-npy: the CSV table as one
        .npy array (float64 when labels are numbers, else text; never pickled). The response
        Content-Type is exactly the negotiated type, as SageMaker's toolkit sends it (no charset).
    Requests: text/csv, application/json, application/jsonlines (a row per line) and
        application/x-npy (1-D or 2-D array, loaded with allow_pickle=False).
    The runtime's path POST /endpoints/{name}/invocations answers as InvokeEndpoint (runtime_api.py).
    Floats are written with repr (shortest text that reads back to the same float64).

Errors: JSON `{"error": "...", "row": i, "column": "name"}` (row/column when known):
    400 malformed HTTP, CSV or JSON, wrong column count, non-numeric or infinite value in a numeric feature,
        empty body, non-UTF-8 body, rows the estimator refuses; 404/405 wrong path/method;
    406 unsupported Accept; 408 request head (line + headers) not complete within the header timeout
    (a connection that sent nothing is closed without an answer); 413 body over the limit;
    415 unsupported Content-Type; 431 request head over the header limit (408 and 431 then close);
    503 model not loaded; 504 request not finished within the timeout.
    Values: a numeric feature is read as Python's float() reads it (Java's 1.0E10 too), NaN there is
    missing; inf and non-numbers are 400, and so is a JSON integer of more than 4300 digits.
    CSV lines end with LF, CRLF or CR as the csv module reads them; an empty line is a row.

Environment
    SAGEMAKER_BIND_TO_PORT (8080), SAGEMAKER_BIND_TO_HOST (0.0.0.0; tests use 127.0.0.1),
    SM_MODEL_DIR (<SAGEMAKER_BASE_DIR or /opt/ml>/model), SAGEMAKER_MODEL_SERVER_WORKERS (one per core),
    SAGEMAKER_MODEL_SERVER_TIMEOUT (60 s per request; 504 within min(1 s, timeout/10) after it),
    SAGEMAKER_MAX_PAYLOAD_IN_MB (6),
    SAGEMAKER_MAX_HEADER_SIZE_IN_KB (16: request line + headers), SAGEMAKER_HEADER_READ_TIMEOUT (20 s from a
    connection's start, or a later request's first byte, to the end of its head; idle keep-alive: 75 s),
    SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT (application/json),
    MLOPS_BATCHING (true), MLOPS_BATCH_MAX_ROWS (256), MLOPS_BATCH_MAX_WAIT_MS (0: batch what is already
    readable, add no delay), MLOPS_COMPILED_SCORING (true: batches of up to 32 rows of a HistGradientBoosting
    pipeline through one numba-compiled call, ~115 MB more per worker; false: numpy only, for small memory),
    MLOPS_CAPTURE_DIR (unset: no capture), MLOPS_CAPTURE_SAMPLING_PERCENT (100),
    MLOPS_ENDPOINT_NAME (local-endpoint), MLOPS_VARIANT_NAME (AllTraffic).
    Capture files: <MLOPS_CAPTURE_DIR>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm>-<ss>-<mmm>-<uuid>.jsonl.
    A request header X-Amzn-SageMaker-Inference-Id becomes the capture's eventMetadata.inferenceId.
"""
