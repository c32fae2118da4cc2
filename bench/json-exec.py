"""The exec-mode twin of bench/json-worker.py: a JSON body on stdin, its summary on stdout, one process per call."""
import json
import sys


def summary(data):
    values = data["values"]
    return {"count": len(values), "sum": sum(values), "mean": sum(values) / len(values) if values else None}


json.dump(summary(json.load(sys.stdin)), sys.stdout)
