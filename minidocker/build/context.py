"""The build context: the directory a build may read, minus what ``.dockerignore`` excludes.

``Context.sources(patterns)`` resolves the sources of a ``COPY``/``ADD``
as Docker does: paths are relative to the context root (a leading ``/``
too), globs match with ``fnmatch`` rules per path, nothing may leave the
context (``../x``, a symlink pointing out), and ignored files do not exist.

``checksum`` gives the cache its view of the sources: for every file and
directory, the relative path, type, mode, link target and content digest —
never the mtime, so touching a file does not invalidate the cache, and
changing one byte does.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from dataclasses import dataclass

from ..errors import MinidockerError
from .ignore import Matcher, read_patterns

MAX_DOCKERFILE = 16 << 20


class ContextError(MinidockerError):
    """A source a build step names is missing or outside the context."""


@dataclass(frozen=True)
class Source:
    rel: str          # path relative to the context root ("" for the root itself)
    path: str         # absolute host path
    is_dir: bool


class Context:
    def __init__(self, root: str, dockerfile: str = "Dockerfile"):
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):
            raise ContextError(f"unable to prepare context: path {root!r} not found")
        ignore = os.path.join(self.root, ".dockerignore")
        patterns = []
        if os.path.isfile(ignore):
            with open(ignore, encoding="utf-8", errors="replace") as f:
                patterns = read_patterns(f.read())
        self.matcher = Matcher(patterns)
        self.dockerfile = dockerfile

    def ignored(self, rel: str) -> bool:
        return bool(rel) and self.matcher.matches(rel)

    def _inside(self, rel: str) -> str:
        """The host path of ``rel``, symlinks resolved; refuse anything outside the context."""
        clean = _clean(rel)
        full = os.path.realpath(os.path.join(self.root, clean))
        if full != self.root and not full.startswith(self.root + os.sep):
            raise ContextError(f"forbidden path outside the build context: {rel} ({full})")
        return full

    def sources(self, patterns: list[str]) -> list[Source]:
        """Every context entry the ``COPY``/``ADD`` sources name, in a stable order."""
        found: list[Source] = []
        for pattern in patterns:
            clean = _clean(pattern)
            if any(ch in clean for ch in "*?["):
                import fnmatch
                matches = [rel for rel in self._all_paths() if fnmatch.fnmatchcase(rel, clean)]
                if not matches:
                    raise ContextError(f"no source files were specified: {pattern} matches nothing "
                                       "in the build context")
            else:
                matches = [clean]
            for rel in matches:
                if rel and self.ignored(rel):
                    raise ContextError(f"{pattern}: file not found in build context or excluded "
                                       "by .dockerignore")
                full = self._inside(rel)
                if not os.path.lexists(full):
                    raise ContextError(f"{pattern}: file not found in build context or excluded "
                                       "by .dockerignore")
                found.append(Source(rel, full, os.path.isdir(full)))
        return found

    def _all_paths(self) -> list[str]:
        out = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel_dir = os.path.relpath(dirpath, self.root)
            rel_dir = "" if rel_dir == "." else rel_dir
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                rel = posixpath.join(rel_dir, name) if rel_dir else name
                if not self.ignored(rel):
                    out.append(rel)
        return out

    def entries(self, source: Source) -> list[tuple[str, str]]:
        """(relative-to-source, host path) of a source and, for a directory, everything in it
        that is not ignored; symlinks inside are not followed."""
        if not source.is_dir:
            return [("", source.path)]
        out = [("", source.path)]
        for dirpath, dirnames, filenames in os.walk(source.path):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, source.path)
                ctx_rel = posixpath.join(source.rel, rel) if source.rel else rel
                if self.ignored(ctx_rel):
                    if name in dirnames and self.matcher.excludes_dir_entirely(ctx_rel):
                        dirnames.remove(name)
                    continue
                out.append((rel, full))
        return out

    def checksum(self, sources: list[Source], chown: str = "", chmod: str = "") -> tuple[str, dict[str, str]]:
        """A digest over the sources' names, types, modes, link targets and contents.

        Also returns the per-file digests, so a cache miss can say which file changed.
        """
        files: dict[str, str] = {}
        for source in sources:
            for rel, full in self.entries(source):
                st = os.lstat(full)
                name = posixpath.join(source.rel, rel) if rel else (source.rel or ".")
                if stat.S_ISDIR(st.st_mode):
                    files[name + "/"] = f"dir {stat.S_IMODE(st.st_mode):o}"
                elif stat.S_ISLNK(st.st_mode):
                    files[name] = f"link {os.readlink(full)}"
                elif stat.S_ISREG(st.st_mode):
                    files[name] = f"file {stat.S_IMODE(st.st_mode):o} {_file_digest(full)}"
                else:
                    files[name] = f"special {st.st_mode:o}"
        h = hashlib.sha256()
        h.update(f"chown={chown} chmod={chmod}\n".encode())
        for name in sorted(files):
            h.update(f"{name}\0{files[name]}\n".encode())
        return "sha256:" + h.hexdigest(), files

    def read_dockerfile(self, path: str | None) -> tuple[str, str]:
        """(text, display name) of the Dockerfile: ``-f`` relative to the context, or - for stdin."""
        name = path or self.dockerfile
        full = name if os.path.isabs(name) else os.path.join(self.root, name)
        try:
            size = os.path.getsize(full)
            if size > MAX_DOCKERFILE:
                raise ContextError(f"{name}: Dockerfile is larger than {MAX_DOCKERFILE} bytes")
            with open(full, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise ContextError(f"failed to read dockerfile: open {name}: no such file or directory") from None
        except IsADirectoryError:
            raise ContextError(f"failed to read dockerfile: {name} is a directory") from None
        try:
            return data.decode("utf-8"), os.path.basename(name)
        except UnicodeDecodeError as e:
            raise ContextError(f"{name}: not valid UTF-8 at byte {e.start}") from None


def _clean(rel: str) -> str:
    """``rel`` relative to the context root (a leading / too); ``..`` out of it is forbidden."""
    norm = posixpath.normpath(rel.lstrip("/") or ".")
    if norm == ".." or norm.startswith("../"):
        raise ContextError(f"forbidden path outside the build context: {rel}")
    return "" if norm == "." else norm


def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
