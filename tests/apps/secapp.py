"""Job types for tests/api/test_security_live.py: commands that report how they were started,
and jobs that print lines far longer than the log keeps."""

from __future__ import annotations

import sys
from typing import Any

from jobyard.app import App

app = App("secapp")

# prints what the process received and where it runs, and leaves a file in its working directory
REPORT = """
import json, os, pwd, sys
open("left-behind.txt", "w").write("x")
secret = ("JOBYARD_ADMIN", "JOBYARD_SECRET", "JOBYARD_FAKTORY", "FAKTORY_")
print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "uid": os.getuid(),
                  "user": pwd.getpwuid(os.getuid()).pw_name, "files": sorted(os.listdir(".")),
                  "secrets": sorted(k for k in os.environ if k.startswith(secret)),
                  "mode": oct(os.stat(".").st_mode & 0o777)}))
"""

app.command("sec.argv", [sys.executable, "-c", REPORT, "${a}", "${b}", "fixed;$(id)"], max_tries=1)

BIG = "import sys; sys.stdout.write('x' * (3 * 1024 * 1024) + 'END\\n'); print('after')"
app.command("sec.bigline", [sys.executable, "-c", BIG], max_tries=1)


@app.job(name="sec.pybig", max_tries=1)
def pybig(ctx: Any) -> None:
    """A Python job printing one 2 MB line, then a short one."""
    print("y" * (2 * 1024 * 1024) + "END")
    print("after")
