"""Atomic, recoverable writes of output files and directories.

Every output goes to a temporary beside its final name (``.NAME.tmp-XXXX``), is fsynced, given the
permissions a plain ``open``/``mkdir`` would have had under the process umask, and renamed into place.
Replacing a directory goes through a fixed backup name, ``.NAME.old``, so a process killed at any instant
leaves either the old or the new content under one of two known names; :func:`recover` puts it back.
An existing output is only replaced when the caller asks (``overwrite``). One process at a time writes an
output: :class:`WriterLock` is an ``fcntl`` lock on ``.NAME.lock`` beside it, released by the kernel when its
holder dies, so a stale lock is simply taken over.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = [
    "NotUtf8Error",
    "decode_utf8",
    "current_umask",
    "atomic_open",
    "atomic_write_text",
    "atomic_write_bytes",
    "atomic_directory",
    "replace_dir",
    "recover",
    "LockedError",
    "WriterLock",
    "with_path",
    "os_error_line",
    "as_os_error",
    "probe_writable",
]

StrPath = str | os.PathLike


class NotUtf8Error(ValueError):
    """Bytes that are not UTF-8: ``str()`` is ``PATH:LINE: not UTF-8 text (REASON at byte N)``."""

    def __init__(self, path: StrPath, line: int, problem: str) -> None:
        super().__init__(f"{path}:{line}: {problem}")
        self.path, self.line, self.problem = str(path), line, problem


def decode_utf8(data: bytes, path: StrPath, first_line: int = 1) -> str:
    """Return ``data`` decoded as UTF-8, or raise :class:`NotUtf8Error` naming the line (counted from
    ``first_line``) and byte of the first bad byte, the one way every reader reports undecodable input."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = first_line + data[: error.start].count(b"\n")
        raise NotUtf8Error(path, line, f"not UTF-8 text ({error.reason} at byte {error.start})") from None


def current_umask() -> int:
    """The process umask, read without changing it where ``/proc`` allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # No /proc (macOS, old kernels): the only portable read sets it and puts it back, which races with
    # other threads creating files; acceptable for the single-threaded command lines that write outputs.
    old = os.umask(0)
    os.umask(old)
    return old


def _exists_error(path: Path) -> FileExistsError:
    return FileExistsError(f"{path}: exists; pass overwrite=True (or --overwrite) to replace it")


def _fsync_dir(directory: StrPath) -> None:
    """Make renames and creations in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename itself is still atomic
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    """Delete a file, link or directory tree."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _old_name(target: Path) -> Path:
    # A fixed name (not per process) so that whichever process runs next can find the backup.
    return target.with_name(f".{target.name}.old")


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    """Rename the finished ``tmp`` to ``path``; without ``overwrite`` never replace a file that exists."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        # A hard link fails if ``path`` appeared since the caller checked, where a rename would clobber it.
        os.link(tmp, path)
    except FileExistsError:
        raise _exists_error(path) from None
    except OSError:
        # A filesystem without hard links: fall back to check-then-rename.
        if path.exists():
            raise _exists_error(path) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


@contextmanager
def atomic_open(path: StrPath, overwrite: bool = False, *, binary: bool = False) -> Iterator[IO[Any]]:
    """Yield a handle on a temporary file that becomes ``path`` when the block ends without an exception.

    Text handles are UTF-8 with ``\\n`` newlines. The file gets ``0o666 & ~umask`` permissions. An existing
    ``path`` is refused with ``FileExistsError`` unless ``overwrite``; on any exception the temporary is
    removed and ``path`` is untouched.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise _exists_error(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            # mkstemp creates 0600; outputs should be as readable as any file the user creates.
            os.fchmod(handle.fileno(), 0o666 & ~current_umask())
        _publish(tmp, path, overwrite)
        _fsync_dir(path.parent)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise with_path(error, path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: StrPath, text: str, overwrite: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; an existing file is replaced only with ``overwrite``."""
    with atomic_open(path, overwrite) as handle:
        handle.write(text)


def atomic_write_bytes(path: StrPath, data: bytes, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` atomically; an existing file is replaced only with ``overwrite``."""
    with atomic_open(path, overwrite, binary=True) as handle:
        handle.write(data)


def _set_tree_modes(root: Path) -> None:
    """Give ``root`` and everything in it the modes ``mkdir``/``open`` would under the umask."""
    umask = current_umask()
    dir_mode, file_mode = 0o777 & ~umask, 0o666 & ~umask
    # mkdtemp makes the root 0700; the writer inside may have used mkstemp (0600) too.
    os.chmod(root, dir_mode)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            if not os.path.islink(os.path.join(folder, name)):
                os.chmod(os.path.join(folder, name), dir_mode)
        for name in files:
            if not os.path.islink(os.path.join(folder, name)):
                os.chmod(os.path.join(folder, name), file_mode)


def _fsync_tree(root: Path) -> None:
    """Flush every file and folder under ``root`` to disk, so the rename never publishes lost data."""
    for folder, _, files in os.walk(root, topdown=False):
        for name in files:
            file = os.path.join(folder, name)
            if os.path.islink(file):
                continue
            try:
                fd = os.open(file, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as error:  # a full disk may only show at fsync: name the file
                raise with_path(error, file) from None
        _fsync_dir(folder)


@contextmanager
def atomic_directory(target: StrPath, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh folder beside ``target``; on success it replaces ``target`` (see :func:`replace_dir`).

    Folders get ``0o777 & ~umask``, files ``0o666 & ~umask``. An existing ``target`` is refused with
    ``FileExistsError`` unless ``overwrite``; on any exception the temporary folder is removed.
    """
    target = Path(target)
    if not overwrite and target.exists():
        raise _exists_error(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        yield tmp
        replace_dir(tmp, target)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        raise with_path(error, target) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(source: StrPath, target: StrPath) -> None:
    """Move the finished directory ``source`` to ``target``, recoverably replacing any ``target``.

    ``source``'s files get the umask's modes (writers such as safetensors make private files) and are
    fsynced; an existing ``target`` is renamed to ``.NAME.old``, ``source`` renamed
    to ``target``, and only then the backup deleted. Killed at any point, ``target`` or ``.NAME.old`` holds
    a complete copy and :func:`recover` restores the right one.
    """
    source, target = Path(source), Path(target)
    old = _old_name(target)
    _set_tree_modes(source)
    _fsync_tree(source)
    if target.exists() or target.is_symlink():
        if old.exists() or old.is_symlink():
            _remove(old)  # left by a save killed before its last step; ``target`` is the good copy
        os.replace(target, old)
    # When ``target`` is missing, a ``.NAME.old`` is the last good copy: keep it until ``source`` is in.
    os.replace(source, target)
    # The new name must be on disk before the only other complete copy goes.
    _fsync_dir(target.parent)
    if old.exists() or old.is_symlink():
        _remove(old)


def recover(target: StrPath) -> str | None:
    """Undo what an interrupted save left around ``target``; return a one-line note, or None if nothing.

    ``target`` missing with ``.NAME.old`` present (killed between the renames): the backup is renamed back.
    Both present (killed before the backup was deleted): the backup is deleted. Stale ``.NAME.tmp-*``
    temporaries are removed. Call it before using ``target``, from one process only.
    """
    target = Path(target)
    old = _old_name(target)
    notes = []
    if old.exists() or old.is_symlink():
        if target.exists() or target.is_symlink():
            _remove(old)
            notes.append(f"removed {old.name}, left by an interrupted save")
        else:
            os.replace(old, target)
            _fsync_dir(target.parent)
            notes.append(f"restored {target} from {old.name}: an earlier save was interrupted")
    stale = sorted(target.parent.glob(f".{glob.escape(target.name)}.tmp-*")) if target.parent.is_dir() else []
    for path in stale:
        _remove(path)
    if stale:
        notes.append(f"removed {len(stale)} unfinished temporar{'y' if len(stale) == 1 else 'ies'} of {target.name}")
    return "; ".join(notes) if notes else None


def with_path(error: OSError, path: StrPath) -> OSError:
    """``error`` naming ``path`` when it names no file ("[Errno 28] No space left on device: 'out/x'")."""
    if error.filename is not None or not error.errno:
        return error
    return type(error)(error.errno, error.strerror or os.strerror(error.errno), str(path))


def as_os_error(error: BaseException, path: StrPath) -> OSError | None:
    """The ``OSError`` (naming ``path``) that a writer library's failure stands for, or None if it is none:
    torch.save reports a full disk as ``RuntimeError: ... file write failed``, safetensors as ``... (os error
    28)``, both naming no file."""
    if isinstance(error, OSError):
        return with_path(error, path)
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    code = re.search(r"os error (\d+)", text)
    if code is not None:
        return OSError(int(code.group(1)), f"cannot write ({first})", str(path))
    if isinstance(error, RuntimeError) and "write" in text.lower():
        return OSError(errno.EIO, f"cannot write ({first})", str(path))
    return None


def os_error_line(error: OSError) -> str:
    """One line for an ``OSError``: the file it names, then the reason ("out/model: No space left on device")."""
    reason = error.strerror or str(error)
    return f"{error.filename}: {reason}" if error.filename is not None else reason


def probe_writable(directory: StrPath, size: int = 1 << 16) -> None:
    """Write, fsync and delete a small file in ``directory``: a read-only or full filesystem fails here, before
    any work, with an ``OSError`` naming the directory."""
    directory = Path(directory)
    probe = directory / f".write-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * size)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        raise OSError(error.errno, f"cannot write here ({error.strerror or error})", str(directory)) from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass


class LockedError(FileExistsError):
    """Another live process is writing the same output; the message names its pid."""


class WriterLock:
    """The one-writer lock of ``target`` (a file or directory that one process at a time may write).

    ``fcntl.flock`` on ``.NAME.lock`` beside ``target``, holding the holder's pid for the message a second
    writer gets. The kernel drops the lock when its holder dies, so a lock left by a killed process is taken
    over. Use as a context manager, or :meth:`acquire`/:meth:`release`.
    """

    def __init__(self, target: StrPath) -> None:
        self.target = Path(target)
        absolute = Path(os.path.abspath(target))  # "." and "out/" have a name once absolute
        self.path = absolute.with_name(f".{absolute.name}.lock")
        self._fd: int | None = None

    def acquire(self) -> WriterLock:
        """Take the lock, or raise :class:`LockedError` naming the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                os.close(fd)
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise with_path(error, self.path) from None
                raise LockedError(
                    f"{self.target}: in use by another process (pid {holder}); wait for it to end or stop it"
                ) from None
            # The last holder unlinks the file on release; a lock on an unlinked file protects nothing.
            try:
                if os.path.samestat(os.fstat(fd), os.stat(self.path)):
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock and remove its file (a no-op when not held)."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
