"""bench/ml's serving peer: the scikit-learn pipelines of the benchmark behind a Flask app, the way
such a scoring service is usually written (one record per POST, a one-row DataFrame, predict,
jsonify), served by gunicorn (sync workers) from bench/ml. ML_MODELS=name=path.pkl,name=path.pkl.
"""
import os

import joblib
import pandas as pd
from flask import Flask, jsonify, request

app = Flask(__name__)
MODELS = {}
for spec in os.environ["ML_MODELS"].split(","):
    name, path = spec.split("=", 1)
    pipe = joblib.load(path)
    est = pipe.steps[-1][1]
    if hasattr(est, "n_jobs"):
        est.n_jobs = 1  # one row per request: no thread pool per call
    MODELS[name] = pipe


@app.get("/ping")
def ping():
    return "\n"


@app.post("/predict/<name>")
def predict(name):
    pipe = MODELS.get(name)
    if pipe is None:
        return jsonify(error=f"no model named '{name}'"), 404
    record = request.get_json(force=True)
    y = pipe.predict(pd.DataFrame([record]))[0]
    out = {"prediction": y.item() if hasattr(y, "item") else y}
    if hasattr(pipe, "predict_proba"):
        try:
            proba = pipe.predict_proba(pd.DataFrame([record]))[0]
            out["probabilities"] = {str(c): float(p) for c, p in zip(pipe.classes_, proba)}
        except AttributeError:
            pass
    return jsonify(out)
