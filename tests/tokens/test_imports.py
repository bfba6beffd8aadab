"""``import anyres`` stays light: the token stage (and torch) load only when asked for."""

from __future__ import annotations

import subprocess
import sys


def test_import_anyres_does_not_import_torch_or_tokens():
    code = "import sys, anyres; anyres.plan((10, 10), 'llava-next'); print(any(m == 'torch' or m.startswith('anyres.tokens') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
