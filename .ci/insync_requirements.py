"""Print the requirements of the ib_insync test environment: ours, with ib_insync for ib_async.

The IB suite runs twice in CI: under ib_async (the dependency, in .venv) and under ib_insync in
a separate virtual environment, because the two cannot share one (both ship ``eventkit``).
"""

import tomllib
from pathlib import Path

IB_INSYNC = ["ib_insync==0.9.86", "eventkit==1.0.3"]
TEST_TOOLS = ("pytest", "hypothesis")

project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
runtime = [d for d in project["dependencies"] if not d.startswith("ib_async")]
tools = [d for d in project["optional-dependencies"]["dev"] if d.startswith(TEST_TOOLS)]
print("\n".join(runtime + IB_INSYNC + tools))  # noqa: T201
