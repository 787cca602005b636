"""Job types for tests/integration/test_run_as.py: a command that reports who it runs as and
where, and a Python job that does the same (Python jobs run as the worker itself)."""

from __future__ import annotations

import os
import pwd
from typing import Any

from jobyard.app import App

app = App("runasapp")

# the system interpreter: the job's user may not be able to read the worker's own
REPORT = """
import json, os, pwd
open("made-here.txt", "w").write("x")
st = os.stat(".")
print(json.dumps({"uid": os.geteuid(), "user": pwd.getpwuid(os.geteuid()).pw_name,
                  "groups": os.getgroups(), "cwd": os.getcwd(), "owner": st.st_uid,
                  "mode": oct(st.st_mode & 0o777), "home": os.environ.get("HOME"),
                  "env_user": os.environ.get("USER")}))
"""

app.command("runas.report", ["/usr/bin/python3", "-c", REPORT], queue="runas", max_tries=1)


@app.job(name="runas.python", queue="runas", max_tries=1)
def python_job(ctx: Any) -> dict[str, Any]:
    return {"uid": os.geteuid(), "user": pwd.getpwuid(os.geteuid()).pw_name}
