"""Run files: what a run leaves behind, written atomically."""

from pathlib import Path

from neurosim.errors import NeurosimError


def ensure_folder(path: str | Path, what: str) -> Path:
    """Create an output folder (and its parents) or fail with one clear line naming ``what`` it is for."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise NeurosimError(f"{what} {folder}: is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NeurosimError(f"{what} {folder}: cannot create the folder ({exc.strerror or exc})") from None
    return folder
