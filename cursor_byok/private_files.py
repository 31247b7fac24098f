"""Files the tool writes: private, atomic, never through a symlink; small files it reads: bounded.

Every bundle, undo journal and backup is created 0600 (folders 0700)
whatever the umask; on Windows, where modes do not decide who reads a file,
each new file and folder gets an owner-only ACL instead (`winsec`). A file
is written to a temp file in the same folder, fsynced, renamed over the
target, and the folder fsynced. A temp file left by a
write that was killed before its rename is removed by the next write there.

Small inputs (key and passphrase files, manifests, code.lock, argv.json,
Local State) are read with `read_small`: never more than a limit, and never
from a FIFO or a device, which could block for ever or never end.
"""

from __future__ import annotations

import errno
import glob
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from .crashpoint import hit
from .errors import InputError, OutputRefused
from .key_shapes import shown_path
from .lazy import LazyModule
from .processes import pid_alive

if TYPE_CHECKING:
    from . import winsec
else:  # winsec loads ctypes, on Windows only: a Python built without libffi (no ctypes) runs the tool elsewhere
    winsec = LazyModule("cursor_byok.winsec")

FILE_MODE = 0o600
DIR_MODE = 0o700
TEMP_SUFFIX = ".tmp"
WINDOWS = sys.platform == "win32"


def restrict_to_owner(path: Path, *, folder: bool) -> None:
    """Windows: an owner-only ACL on a file or folder we just created (modes do that elsewhere)."""
    if WINDOWS:
        winsec.make_private(path, folder=folder)


def owned_by_me(st: os.stat_result) -> bool:
    """Is this file ours? Windows has no uids: what we may open there is ours to tidy."""
    return not hasattr(os, "getuid") or st.st_uid == os.getuid()


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) 0700; tighten an existing one we own; refuse a symlink."""
    path = Path(path)
    if path.is_symlink():
        raise OutputRefused(f"{shown_path(path)}: is a symlink; refusing to write through it")
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):  # every folder we create is 0700, not just the last
        hit("dir-create")
        try:
            folder.mkdir(mode=DIR_MODE, exist_ok=True)
            os.chmod(folder, DIR_MODE)
        except OSError as exc:  # a file where a folder should be, a read-only disk, ...
            raise _cannot_write(folder, exc) from None
        try:
            restrict_to_owner(folder, folder=True)
        except OutputRefused:
            folder.rmdir()  # empty: we just made it
            raise
    st = path.stat()
    if not WINDOWS and stat.S_IMODE(st.st_mode) & 0o077 and owned_by_me(st):
        os.chmod(path, DIR_MODE)
    return path


def _cannot_write(path: Path, exc: OSError) -> OutputRefused:
    reason = exc.strerror or exc
    return OutputRefused(
        f"{shown_path(path)}: cannot write here ({reason}); check that the folder exists and is writable"
    )


def check_target(path: Path, *, overwrite: bool) -> None:
    """Refuse a symlink, a non-file, or an existing file without overwrite."""
    if path.is_symlink():
        raise OutputRefused(f"{shown_path(path)}: is a symlink; refusing to write through it, pick another path")
    if path.exists():
        if not path.is_file():
            raise OutputRefused(f"{shown_path(path)}: exists and is not a regular file")
        if not overwrite:
            raise OutputRefused(f"{shown_path(path)}: already exists; pass --force to replace it")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows has no directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _temp_path(folder: Path, name: str, pid: int) -> Path:
    return folder / f".{name}.{pid}{TEMP_SUFFIX}"


def remove_stale_temps(folder: Path, name: str | None = None) -> list[Path]:
    """Delete temp files that a killed write_private left in `folder`; return them.

    A temp file is `.<name>.<pid>.tmp`; once its process is gone, the rename
    that would have used it can never happen. Only regular files we own are
    removed, and only those for `name` when given (a folder that is not ours
    may hold other programs' dot files).
    """
    removed = []
    pattern = f".{glob.escape(name)}.*{TEMP_SUFFIX}" if name else f".*{TEMP_SUFFIX}"
    for candidate in Path(folder).glob(pattern):
        pid = candidate.name[: -len(TEMP_SUFFIX)].rpartition(".")[2]
        if not pid.isdigit() or int(pid) == os.getpid() or pid_alive(int(pid)):
            continue
        try:
            st = candidate.lstat()
            if stat.S_ISREG(st.st_mode) and owned_by_me(st):
                candidate.unlink()
                removed.append(candidate)
        except OSError:  # gone meanwhile, or not ours to remove
            continue
    return removed


def write_private(path: Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Atomically write `data` to `path` as a 0600 file."""
    path = Path(path)
    check_target(path, overwrite=overwrite)
    folder = path.parent if str(path.parent) else Path(".")
    remove_stale_temps(folder, path.name)
    tmp = _temp_path(folder, path.name, os.getpid())
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(tmp, flags, FILE_MODE)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        os.fchmod(fd, FILE_MODE) if hasattr(os, "fchmod") else None  # umask-proof
        restrict_to_owner(tmp, folder=False)  # before a byte is written
        hit("file-write")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        hit("file-fsync")
        os.fsync(fd)
    except BaseException as exc:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # e.g. the disk is full
            raise _cannot_write(path, exc) from None
        raise
    os.close(fd)
    try:
        check_target(path, overwrite=overwrite)  # re-check: nothing appeared meanwhile
        hit("file-rename")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    hit("dir-fsync")
    _fsync_dir(folder)
    return path


# --- bounded reads ----------------------------------------------------------------------


class NotRegularFile(OSError):
    """The path is a FIFO, a device, a folder or a socket, not a regular file."""


class FileTooLarge(OSError):
    """The file is larger than the caller's limit."""


def size_text(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 and not limit % (1 << 20) else f"{limit >> 10} KiB"


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """A regular file opened for reading without blocking on the open (a FIFO with no writer), then
    fstat()ed: anything but a regular file raises NotRegularFile. The caller bounds its reads."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file (a folder, FIFO or device)", str(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_small(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, read without blocking.

    Opened non-blocking where the OS has O_NONBLOCK (so a FIFO with no writer
    cannot hang the open), then fstat()ed: anything but a regular file is
    refused (NotRegularFile), and so is a file over `limit` (FileTooLarge),
    after reading at most `limit` + 1 bytes. Both are OSErrors whose strerror
    fits a one-line message; a missing file raises FileNotFoundError as usual.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file (a folder, FIFO or device)", str(path))
        too_large = FileTooLarge(errno.EFBIG, f"larger than {size_text(limit)}", str(path))
        if st.st_size > limit:
            raise too_large
        chunks, total = [], 0
        while total <= limit:  # the file may grow after fstat: never read more than limit + 1
            chunk = os.read(fd, min(1 << 16, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise too_large
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_small_text(path: str | os.PathLike[str], limit: int, what: str) -> str:
    """The UTF-8 text of a small regular file the user named (see read_small); any failure is an InputError
    "<path>: cannot read <what> (<why>)", the path shown by key_shapes.shown_path."""
    try:
        return read_small(path, limit).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError(f"{shown_path(str(path))}: cannot read {what} ({why})") from None
