"""Every ```python block in the README and docs/ runs (docs examples are executed)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [
    pytest.param(block, id=f"{path.name}-{i}")
    for path in FILES
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", path.read_text(), re.S))
]


@pytest.mark.parametrize("code", BLOCKS)
def test_code_block_runs(code):
    """The block runs to its end (its own checks raise on failure)."""
    namespace = {"__name__": "__docs__"}
    exec(compile(code, "<docs>", "exec"), namespace)
    assert "torch" in namespace  # every block imports torch and got past its last line
