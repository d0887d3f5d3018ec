"""The kubelet mounts the config comes from: one snapshot of all of them, hashed once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from supervisor.site.mounts import DEFAULT_MAX_FILE_BYTES, Mount, content_hash, read_mount


@dataclass(frozen=True)
class Snapshot:
    config: tuple[Mount, ...]
    secrets: tuple[Mount, ...]
    hash: str

    @property
    def problems(self) -> list[str]:
        return [str(p) for m in (*self.config, *self.secrets) for p in m.problems]


@dataclass(frozen=True, kw_only=True)
class Mounts:
    """The ConfigMap and Secret mount directories (kubelet `..data` swaps, or plain ones)."""

    config: tuple[Path, ...]
    secrets: tuple[Path, ...] = ()
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    @property
    def paths(self) -> tuple[Path, ...]:
        return (*self.config, *self.secrets)

    def _read(self, path: Path, *, audio: bool = False) -> Mount:
        return read_mount(path, max_file_bytes=self.max_file_bytes, audio=audio)

    def snapshot(self) -> Snapshot:
        config = tuple(self._read(p, audio=True) for p in self.config)
        secrets = tuple(self._read(p) for p in self.secrets)
        return Snapshot(config, secrets, content_hash([*config, *secrets]))

    def not_live(self) -> list[str]:
        """Mounts without `..data` (subPath mounts, plain directories): they never update."""
        return [str(path) for path in self.paths if not self._read(path).live]
