# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state files a run writes (incident records, drill reports, swap records): read,
directories made with a fixed mode whatever the umask, and writes that are whole or not at all
(a run killed mid-write leaves the earlier file, never half of one)."""

from __future__ import annotations

import os
import stat
import tempfile

FILE_MODE = 0o640
DIR_MODE = 0o750


def read_file(path):
    """(content bytes, mode) of an existing file, or (None, None)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(), stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
    except FileNotFoundError:
        return None, None


def make_dirs(path, mode=DIR_MODE):
    """Create `path` and its missing parents with `mode` (mkdir's mode is filtered by the umask)."""
    missing = []
    here = path
    while here and not os.path.isdir(here):
        missing.append(here)
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            continue
        os.chmod(directory, mode)


def write_atomic(path, data, mode=FILE_MODE):
    """Write through a temporary file in the same directory, then rename over `path`."""
    directory, name = os.path.split(path)
    handle, temp = tempfile.mkstemp(prefix=".%s." % name, suffix=".tmp", dir=directory or ".")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
