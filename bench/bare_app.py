"""The baseline: a bare Flask app answering every POST with a fixed {"cards": []}."""
from flask import Flask, Response

app = Flask(__name__)
BODY = b'{"cards":[]}'


@app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
@app.route("/<path:path>", methods=["GET", "POST"])
def cards(path: str) -> Response:
    return Response(BODY, mimetype="application/json")
