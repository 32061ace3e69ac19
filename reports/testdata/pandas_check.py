"""Reads one published dpstats report directory the way a notebook would,
with pandas, and checks the files hold what they promise.

    python3 pandas_check.py OUT/<job>/<period> [partition-name ...]

The partition names given after the directory must survive the recommended
read of report.csv as text. Exits 0 and prints "ok" when every check passes;
otherwise prints what failed and exits 1. reports/pandas_test.go runs it.
"""

import json
import math
import os
import sys

import pandas as pd

TIDY_COLUMNS = [
    "period", "metric", "kind", "dimension", "partition",
    "value", "lower", "upper", "share", "share_lower", "share_upper",
    "bucket_lower", "bucket_upper", "unit",
    "rank", "bucket_unit", "confidence_level", "clamped", "noise_dominated", "interval_note",
]
FLOATS = ["value", "lower", "upper", "share", "share_lower", "share_upper",
          "bucket_lower", "bucket_upper", "rank", "confidence_level"]
BOOLS = ["clamped", "noise_dominated"]
TEXTS = ["period", "metric", "kind", "dimension", "partition", "unit"]

problems = []


def check(ok, what):
    if not ok:
        problems.append(what)


def close(a, b):
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return False
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


def main(d, names):
    # report.json and the schema it names, relative to itself.
    with open(os.path.join(d, "report.json"), encoding="utf-8") as f:
        rep = json.load(f)
    ref = rep["$schema"]
    check(not os.path.isabs(ref) and "://" not in ref, f"$schema {ref!r} is not relative to the report")
    schema_path = os.path.join(d, ref)
    check(os.path.exists(schema_path), f"$schema {ref!r} does not resolve beside report.json")
    if os.path.exists(schema_path):
        with open(schema_path, encoding="utf-8") as f:
            schema = json.load(f)
        check(schema.get("$schema", "").startswith("https://json-schema.org/"), "the schema file is not a JSON Schema")

    # report.csv, read as recommended: empty cells are missing, text stays text.
    tidy = pd.read_csv(os.path.join(d, "report.csv"), keep_default_na=False, na_values=[""])
    check(list(tidy.columns) == TIDY_COLUMNS, f"report.csv columns {list(tidy.columns)}, want {TIDY_COLUMNS}")
    for c in FLOATS:
        check(str(tidy[c].dtype) == "float64", f"report.csv {c} dtype {tidy[c].dtype}, want float64")
    for c in BOOLS:
        check(str(tidy[c].dtype) == "bool", f"report.csv {c} dtype {tidy[c].dtype}, want bool")
    for c in TEXTS + ["bucket_unit", "interval_note"]:
        check(str(tidy[c].dtype) == "object", f"report.csv {c} dtype {tidy[c].dtype}, want object (text)")
    for n in names:
        check((tidy["partition"] == n).any(), f"partition {n!r} did not survive the read as text")

    # The default read keeps numbers and booleans typed, too.
    plain = pd.read_csv(os.path.join(d, "report.csv"))
    for c in FLOATS:
        check(str(plain[c].dtype) == "float64", f"default read: {c} dtype {plain[c].dtype}, want float64")
    for c in BOOLS:
        check(str(plain[c].dtype) == "bool", f"default read: {c} dtype {plain[c].dtype}, want bool")

    # Every number has an interval or a note saying why not, never both,
    # and lower ≤ value ≤ upper where it has one.
    has_ci = tidy["lower"].notna() & tidy["upper"].notna()
    no_ci = tidy["lower"].isna() & tidy["upper"].isna()
    has_note = tidy["interval_note"].fillna("") != ""
    check(((has_ci & ~has_note) | (no_ci & has_note)).all(),
          "rows with neither an interval nor a note, or both:\n" + tidy[~((has_ci & ~has_note) | (no_ci & has_note))].to_string())
    ci = tidy[has_ci]
    check((ci["lower"] <= ci["upper"]).all(), "an interval with lower > upper")
    sh = tidy[tidy["share"].notna()]
    check(((sh["share_lower"] <= sh["share"] + 1e-9) & (sh["share"] <= sh["share_upper"] + 1e-9)).all(), "a share outside its interval")
    check(((tidy["share"].isna()) | ((tidy["share"] >= 0) & (tidy["share"] <= 1))).all(), "a share outside [0, 1]")
    b = tidy[tidy["bucket_lower"].notna() & tidy["bucket_upper"].notna()]
    check((b["bucket_lower"] < b["bucket_upper"]).all(), "a bucket with lower ≥ upper")
    check((tidy["bucket_upper"].isna() | tidy["bucket_lower"].notna()).all(), "a bucket upper edge without a lower one")
    check(((tidy["kind"] == "quantiles") == tidy["rank"].notna()).all(), "rank set on a row that is not a quantile, or missing on one")

    # Every row matches report.json, number for number, in order.
    rows = []
    for m in rep["metrics"]:
        lo, hi = m["bounds"]["lower"], m["bounds"]["upper"]
        for p in m["partitions"]:
            if m["kind"] == "quantiles" and p.get("quantiles"):
                for q in p["quantiles"]:
                    rows.append((m, p["name"], q["value"], q.get("lower"), q.get("upper"), None, q["rank"], p))
                    # A quantile's interval is its own, never the clamping range.
                    if q.get("lower") is not None:
                        check(not (q["lower"] == lo and q["upper"] == hi and lo != hi and q["value"] not in (lo, hi)),
                              f"{m['name']}/{p['name']} p{q['rank']}: interval equals the clamping bounds")
            else:
                rows.append((m, p["name"], p["value"], p.get("lower"), p.get("upper"), p.get("share"), None, p))
    check(len(rows) == len(tidy), f"report.csv has {len(tidy)} rows, report.json {len(rows)} numbers")
    for i, (m, name, value, lower, upper, share, rank, p) in enumerate(rows[:len(tidy)]):
        r = tidy.iloc[i]
        where = f"row {i} ({m['name']}/{name})"
        check(r["metric"] == m["name"] and r["kind"] == m["kind"] and r["dimension"] == m["dimension"], where + ": metric, kind or dimension differ")
        check(r["partition"] == name or r["partition"] == "'" + name, where + f": partition {r['partition']!r}")
        check(r["period"] == rep["period"], where + ": period differs")
        for col, want in (("value", value), ("lower", lower), ("upper", upper), ("share", share), ("rank", rank),
                          ("bucket_lower", p.get("bucket_lower")), ("bucket_upper", p.get("bucket_upper"))):
            check(close(r[col], want), where + f": {col} {r[col]!r}, report.json {want!r}")
        check(close(r["confidence_level"], m["confidence_level"]), where + ": confidence_level differs")
        want_unit = {"count": "events", "users": "users"}.get(m["kind"], m["unit"])
        check(r["unit"] == want_unit or (want_unit == "" and pd.isna(r["unit"])), where + f": unit {r['unit']!r}, want {want_unit!r}")

    # The per-metric CSVs: typed columns, clamping bounds in their own columns.
    for m in rep["metrics"]:
        f = pd.read_csv(os.path.join(d, m["name"] + ".csv"), keep_default_na=False, na_values=[""])
        check(len(f) == len(m["partitions"]), f"{m['name']}.csv has {len(f)} rows, want {len(m['partitions'])}")
        for c in f.columns:
            if c in ("partition", "unit", "interval_note"):
                continue
            want = "bool" if c in BOOLS else "float64"
            check(str(f[c].dtype) == want, f"{m['name']}.csv {c} dtype {f[c].dtype}, want {want}")
        for c in ("clamp_lower", "clamp_upper", "bucket_lower", "bucket_upper", "noise_dominated", "interval_note", "unit"):
            check(c in f.columns, f"{m['name']}.csv lacks column {c}")
        if m["kind"] in ("sum", "mean", "quantiles"):
            check((f["clamp_lower"] == m["bounds"]["lower"]).all() and (f["clamp_upper"] == m["bounds"]["upper"]).all(),
                  f"{m['name']}.csv clamp bounds differ from report.json")
        else:
            check(f["clamp_lower"].isna().all(), f"{m['name']}.csv has clamp bounds for a {m['kind']} metric")

    # report.json flattens into a frame.
    flat = pd.json_normalize(rep["metrics"], record_path="partitions", meta=["name", "kind"], meta_prefix="metric_")
    check(len(flat) == sum(len(m["partitions"]) for m in rep["metrics"]), "json_normalize lost partitions")
    check(str(flat["value"].dtype) == "float64", f"report.json values flatten to {flat['value'].dtype}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print("ok")
