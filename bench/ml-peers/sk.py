#!/usr/bin/env python3
"""bench/ml's Python side: the seeded train/test split, the scikit-learn peer (same rows, same
feature preparation, fit() timed), the metrics of both tools (sklearn.metrics on both), and the
batch-scoring peer of kpredict's stdin mode. Run by bench/ml inside its venv; see bench/README.md.

  sk.py split CSV --split 0.8 --seed 42 --train OUT --test OUT [--times K]
  sk.py case --train CSV --test CSV --label COL --model M [--features a,b] [--hour-from Time]
             [--repeat K] [--jobs J] [--scored KPREDICT.jsonl] [--save PIPELINE.pkl] [--rf-max-features X]
  sk.py batch PIPELINE.pkl RECORDS.jsonl [--field prediction]
"""
import argparse
import json
import os
import sys
import time
import warnings

LOGISTIC, LINEAR, RFC, RFR = "logistic", "linear", "rf-classifier", "rf-regressor"


def cmd_split(a):
    # The rows' own bytes, so that both tools read exactly the same text. The datasets have no
    # quoted fields (checked), so a line is a row.
    import numpy as np

    with open(a.csv, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    if any(b'"' in r for r in rows):
        sys.exit(f"{a.csv}: quoted fields: split it with a CSV reader")
    if a.times > 1:
        rows = rows * a.times
    n = len(rows)
    order = np.random.default_rng(a.seed).permutation(n)
    k = int(round(a.split * n))
    with open(a.train, "wb") as f:
        f.write(header)
        f.writelines(rows[i] for i in order[:k])
    with open(a.test, "wb") as f:
        f.write(header)
        f.writelines(rows[i] for i in order[k:])
    print(json.dumps({"rows": n, "train": k, "test": n - k}))


def prepare(df, label, features, hour_from):
    """The same features ktrain is given: --derive hour from the time text, the named columns."""
    import pandas as pd

    df = df.copy()
    if hour_from:
        df["hour"] = pd.to_datetime(df[hour_from], format="%I:%M:%S %p").dt.hour
    cols = features or [c for c in df.columns if c != label]
    return df[cols], cols


def make_pipeline(model, x, jobs, rf_max_features, random_state):
    # ktrain's preparation: numbers standardised (population sd, as StandardScaler), text one-hot
    # (categories of the training rows; unseen ones all zeros, like ktrain's unknown bucket).
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    num = [c for c in x.columns if x[c].dtype.kind in "biuf"]
    cat = [c for c in x.columns if c not in num]
    prep = ColumnTransformer(
        [("num", StandardScaler(), num), ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat)],
        sparse_threshold=0,
    )
    if model == LOGISTIC:
        est = LogisticRegression(C=1.0, solver="lbfgs", max_iter=100)
    elif model == LINEAR:
        est = LinearRegression()
    elif model == RFC:
        est = RandomForestClassifier(n_estimators=20, max_depth=5, random_state=random_state, n_jobs=jobs)
    else:
        mf = 1.0 if rf_max_features is None else rf_max_features
        est = RandomForestRegressor(n_estimators=20, max_depth=5, random_state=random_state, n_jobs=jobs, max_features=mf)
    return Pipeline([("prep", prep), ("model", est)])


def metric(model, truth, predicted):
    from sklearn.metrics import accuracy_score, r2_score

    if model in (LOGISTIC, RFC):
        return float(accuracy_score([str(v) for v in truth], [str(v) for v in predicted]))
    return float(r2_score([float(v) for v in truth], [float(v) for v in predicted]))


def label_text(v):
    # A numeric class as ktrain writes it (1, not 1.0).
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def cmd_case(a):
    import numpy as np
    import pandas as pd
    import sklearn
    from sklearn.exceptions import ConvergenceWarning

    train = pd.read_csv(a.train)
    test = pd.read_csv(a.test)
    features = [f for f in a.features.split(",") if f] if a.features else None
    xtr, cols = prepare(train, a.label, features, a.hour_from)
    xte, _ = prepare(test, a.label, features, a.hour_from)
    ytr, yte = train[a.label], test[a.label]
    classify = a.model in (LOGISTIC, RFC)
    if classify:
        ytr = ytr.map(label_text)
        yte = yte.map(label_text)
    pipe = make_pipeline(a.model, xtr, a.jobs, a.rf_max_features, a.seed)
    # The learner alone is timed, as ktrain's training.seconds: the preparation is fitted first.
    prep = pipe.named_steps["prep"]
    xt = prep.fit_transform(xtr)
    est = pipe.named_steps["model"]
    times = []
    metrics = []
    converged = True
    # Each repetition with the next seed (forests; the others are deterministic), as ktrain's
    # repetitions: the quality compared is the mean over the seeds, not one draw of the forest.
    for i in range(a.repeat):
        if "random_state" in est.get_params():
            est.set_params(random_state=a.seed + i)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always", ConvergenceWarning)
            t0 = time.perf_counter()
            est.fit(xt, ytr)
            times.append(time.perf_counter() - t0)
            if any(issubclass(x.category, ConvergenceWarning) for x in w):
                converged = False
        metrics.append(metric(a.model, yte, est.predict(prep.transform(xte))))
    out = {
        "rows_train": len(xtr),
        "rows_test": len(xte),
        "width": int(xt.shape[1]),
        "features": cols,
        "sk_fit_s": times,
        "sk_fit_best_s": min(times),
        "sk_metric": sum(metrics) / len(metrics),
        "sk_metrics": metrics,
        "sk_converged": converged,
        "sk_estimator": " ".join(repr(est).split()),
        "sklearn": sklearn.__version__,
    }
    if a.model == LOGISTIC:
        out["sk_iterations"] = int(np.max(est.n_iter_))
    if a.scored:
        kp = []
        for scored in a.scored:
            got = []
            with open(scored, "rb") as f:
                for line in f:
                    got.append(json.loads(line)["prediction"])
            if len(got) != len(yte):
                sys.exit(f"{scored}: {len(got)} predictions for {len(yte)} test rows")
            kp.append(metric(a.model, yte, [label_text(v) if classify else v for v in got]))
        out["kp_metric"] = sum(kp) / len(kp)
        out["kp_metrics"] = kp
    if a.save:
        est.set_params(**({"random_state": a.seed} if "random_state" in est.get_params() else {}))
        est.fit(xt, ytr)
        import joblib

        joblib.dump(pipe, a.save)
    print(json.dumps(out))


def cmd_batch(a):
    # What a user runs to score a file of records: pandas reads it, the pipeline predicts, the
    # records go out with the prediction added (to /dev/null here, as kpredict's).
    import joblib
    import pandas as pd

    pipe = joblib.load(a.pipeline)
    t0 = time.perf_counter()
    df = pd.read_json(a.records, lines=True)
    t1 = time.perf_counter()
    df[a.field] = pipe.predict(df)
    t2 = time.perf_counter()
    df.to_json(os.devnull if a.out == "-" else a.out, orient="records", lines=True)
    t3 = time.perf_counter()
    print(json.dumps({"records": len(df), "read_s": t1 - t0, "predict_s": t2 - t1, "write_s": t3 - t2}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split")
    s.add_argument("csv")
    s.add_argument("--split", type=float, default=0.8)
    s.add_argument("--seed", type=int, default=42)
    s.add_argument("--times", type=int, default=1, help="replicate the rows first")
    s.add_argument("--train", required=True)
    s.add_argument("--test", required=True)
    c = sub.add_parser("case")
    c.add_argument("--train", required=True)
    c.add_argument("--test", required=True)
    c.add_argument("--label", required=True)
    c.add_argument("--model", required=True, choices=[LOGISTIC, LINEAR, RFC, RFR])
    c.add_argument("--features", default="")
    c.add_argument("--hour-from", default="")
    c.add_argument("--repeat", type=int, default=5)
    c.add_argument("--jobs", type=int, default=os.cpu_count())
    c.add_argument("--seed", type=int, default=42)
    c.add_argument("--rf-max-features", type=float, default=None)
    c.add_argument("--scored", action="append", default=[], help="kpredict's output, one per seed (repeatable)")
    c.add_argument("--save", default="")
    b = sub.add_parser("batch")
    b.add_argument("pipeline")
    b.add_argument("records")
    b.add_argument("--field", default="prediction")
    b.add_argument("--out", default="-")
    a = p.parse_args()
    {"split": cmd_split, "case": cmd_case, "batch": cmd_batch}[a.cmd](a)


if __name__ == "__main__":
    main()
