"""Temporary folders that outlive nothing: removed even when their creator is SIGKILLed.

The first folder a process asks for starts a reaper: `python -m tests.servers._reaper`, in
a session of its own (so a kill of the creator's process group misses it), reading folder
paths on its stdin. When the creator dies, however it dies, the pipe closes; the reaper
waits for the creator's children to go (they die with it: see _process.spawn) and removes
every folder it was told of. After a normal exit the folders are gone already.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

CHILDREN_GONE_SECONDS = 1.0  # servers get SIGKILL from the kernel when their parent dies

_lock = threading.Lock()
_pipe: IO[str] | None = None


def temp_dir(prefix: str) -> Path:
    """A new temporary folder that is removed once this process is gone."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    global _pipe
    with _lock:
        if _pipe is None:
            reaper = subprocess.Popen(
                [sys.executable, "-m", "tests.servers._reaper"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
                cwd=Path(__file__).resolve().parents[2],
            )
            _pipe = reaper.stdin
        assert _pipe is not None
        _pipe.write(f"{path}\n")
        _pipe.flush()
    return path


def main() -> None:
    paths = [Path(line.rstrip("\n")) for line in sys.stdin]  # until the creator is gone
    time.sleep(CHILDREN_GONE_SECONDS)
    for path in paths:
        if path.is_dir() and path.is_relative_to(tempfile.gettempdir()):
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
