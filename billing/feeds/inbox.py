"""The feed inbox: submitting feeds, finding complete ones, archiving and quarantining.

A feed is complete when its control file is in the inbox (it is written last). Files are
moved, never copied, out of the inbox: to ``archive/<header_id>/`` once uploaded, to
``quarantine/<name>/`` with a ``REASON.txt`` when they cannot be processed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from billing.errors import FeedRejected
from billing.feeds.control import CONTROL_SUFFIX, ControlFile, content_hash, feed_key, read_control

REASON_FILE = "REASON.txt"


@dataclass(frozen=True)
class Feed:
    """A complete feed in a folder, with its identity."""

    control: ControlFile
    digest: str

    @property
    def header_id(self) -> str:
        return feed_key(self.control, self.digest)

    @property
    def files(self) -> list[Path]:
        return [self.control.data_path, self.control.path]


def identify(control_path: Path) -> Feed:
    control = read_control(control_path)
    return Feed(control, content_hash(control))


def control_files(inbox: Path) -> list[Path]:
    return sorted(p for p in inbox.glob(f"*{CONTROL_SUFFIX}") if p.is_file())


def scan(inbox: Path) -> Iterator[tuple[Path, Feed | FeedRejected]]:
    """Every control file in the inbox, with its feed or the reason it cannot be read."""
    for path in control_files(inbox):
        try:
            yield path, identify(path)
        except FeedRejected as rejected:
            yield path, rejected


def find(inbox: Path, header_id: str) -> Feed | None:
    """The feed in the inbox whose ``header_id`` is given, if it is there."""
    for _path, found in scan(inbox):
        if isinstance(found, Feed) and found.header_id == header_id:
            return found
    return None


def submit(data_path: Path, control_path: Path, inbox: Path) -> Path:
    """Place a feed in the inbox atomically: the data file first, the control file last."""
    if not control_path.name.endswith(CONTROL_SUFFIX):  # the sensor would never see it
        raise FeedRejected(f"control file {control_path.name} must be named NAME{CONTROL_SUFFIX}")
    control = read_control(control_path)
    if data_path.resolve() != control.data_path.resolve() and data_path.name != control.data_file:
        raise FeedRejected(
            f"control file {control_path.name} names data file {control.data_file}, not {data_path.name}"
        )
    inbox.mkdir(parents=True, exist_ok=True)
    _atomic_copy(data_path, inbox / control.data_file)
    target = inbox / control_path.name
    _atomic_copy(control_path, target)
    return target


def _atomic_copy(source: Path, target: Path) -> None:
    if source.resolve() == target.resolve():
        return
    temporary = target.with_name(f".{target.name}.part")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def move_files(files: list[Path], folder: Path) -> Path:
    """Move the files that still exist into ``folder`` (idempotent: a re-run moves nothing)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        if path.is_file():
            os.replace(path, folder / path.name)
    return folder


def quarantine(control_path: Path, reason: str, quarantine_root: Path, name: str | None = None) -> Path:
    """Move a feed's files (control, and data file when it can be named) to quarantine."""
    files = [control_path, *_named_data_file(control_path)]
    return quarantine_files(files, reason, quarantine_root, name or control_path.name[: -len(CONTROL_SUFFIX)])


def quarantine_files(files: list[Path], reason: str, quarantine_root: Path, name: str) -> Path:
    """Move files into a new folder ``quarantine/<name>`` (``<name>.2``… when taken) with the reason."""
    if name in ("", ".", ".."):  # a file named ".ctl.json": its folder must still be one inside quarantine/
        name = "unnamed"
    return file_with_reason(files, _free_folder(quarantine_root / name), reason)


def file_with_reason(files: list[Path], folder: Path, reason: str) -> Path:
    """Move the files into ``folder`` beside a ``REASON.txt`` saying why they are there."""
    move_files(files, folder)
    (folder / REASON_FILE).write_text(reason.rstrip() + "\n", encoding="utf-8")
    return folder


def _named_data_file(control_path: Path) -> list[Path]:
    guess = control_path.with_name(control_path.name[: -len(CONTROL_SUFFIX)] + ".csv")
    try:
        return [read_control(control_path).data_path]
    except FeedRejected:
        return [guess] if guess.is_file() else []


def _free_folder(folder: Path) -> Path:
    candidate, n = folder, 1
    while candidate.exists():
        n += 1
        candidate = folder.with_name(f"{folder.name}.{n}")
    return candidate
