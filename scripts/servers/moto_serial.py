"""moto's DynamoDB-compatible server, answering one request at a time.

moto checks the condition of a conditional write and then applies the write as two separate
Python steps. With moto's default threaded server, two concurrent conditional writes to the same
item can both pass the check, so one update is lost, which real DynamoDB never allows (the
store conformance suite's concurrent-writers check caught it). Serving requests one by one
restores the atomicity the store relies on. Usage: moto_serial.py HOST PORT
"""

import os
import signal
import sys

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
