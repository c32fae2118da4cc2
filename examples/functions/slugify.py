"""Turns the request body into a URL slug: "Hello, World!" -> "hello-world"."""
import re
import sys
import unicodedata

text = unicodedata.normalize("NFKD", sys.stdin.read()).encode("ascii", "ignore").decode("ascii")
sys.stdout.write(re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-"))
