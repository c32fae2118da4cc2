"""The warm (mode: http) Python function of bench/run: a JSON body in, its summary out, over HTTP/1.1 keep-alive
on 127.0.0.1:$PORT. The same logic as bench/json-exec.py, which runs once per call (mode: exec)."""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def summary(data):
    values = data["values"]
    return {"count": len(values), "sum": sum(values), "mean": sum(values) / len(values) if values else None}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # the head and the body go out in two writes

    def do_POST(self):
        try:
            data = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            body, status = json.dumps(summary(data)).encode(), 200
        except (ValueError, KeyError, TypeError) as e:
            body, status = json.dumps({"error": str(e)}).encode(), 400
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # a line per call would only measure the server's log


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
