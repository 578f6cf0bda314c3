"""Shared by every package's tests: test files are imported by path
(``--import-mode=importlib`` in pytest.ini, so that packages may share test file
names); the helper modules beside a package's tests (``gee_helpers``, ...) are made
importable here instead."""

import sys
from pathlib import Path

for _tests in sorted(Path(__file__).parent.glob("packages/*/tests")):
    if str(_tests) not in sys.path:
        sys.path.append(str(_tests))
