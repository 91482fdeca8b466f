"""Download Fashion-MNIST / MNIST into the data cache, verified by the published MD5 checksums.

Each file is streamed into a temporary file in the destination folder and renamed into place only
after its checksum matches, so an interrupted or corrupted download never leaves a file that the
loaders would pick up. This is the only module that touches the network, and only when asked to.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.request
from pathlib import Path

from neurosim.data.datasets import IDX_DATASETS, IDX_FILES, check_name, default_data_root
from neurosim.errors import DataError

BASE_URLS: dict[str, str] = {
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
}

# MD5 of the official gzip files: Fashion-MNIST from its repository README, MNIST as published with
# the mirror above (the same values torchvision checks).
CHECKSUMS: dict[str, dict[str, str]] = {
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
}

TIMEOUT_S = 60.0
_CHUNK = 1 << 20


def fetch_dataset(name: str, dest_root: str | os.PathLike[str] | None = None, *,
                  base_url: str | None = None) -> Path:
    """Download the four files of ``name`` into ``<dest_root or ~/.cache/neurosim>/<name>/``.

    Files already there with the right checksum are kept; ``base_url`` replaces the official
    location (a mirror, or a local ``file://`` folder in tests). Returns the data set's folder.
    """
    check_name(name)
    if name not in IDX_DATASETS:
        raise DataError(f"{name} is generated on the fly; there is nothing to fetch "
                        f"(fetchable: {', '.join(IDX_DATASETS)})")
    root = Path(dest_root).expanduser() if dest_root is not None else default_data_root()
    folder = root / name
    created = [p for p in (folder, *folder.parents) if not p.exists()]  # what a failed fetch must not leave
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_empty(created)
        raise DataError(f"{folder}: cannot create the data folder: {exc.strerror or exc}") from None
    url_root = (base_url or BASE_URLS[name]).rstrip("/") + "/"
    checksums = CHECKSUMS[name]
    try:
        for base in IDX_FILES:
            filename = f"{base}.gz"
            target = folder / filename
            if target.is_file() and _md5_file(target) == checksums[filename]:
                continue
            _download(url_root + filename, target, checksums[filename])
    except BaseException:
        _remove_empty(created)
        raise
    return folder


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a failed fetch created, innermost first, as far as they are still empty (files
    already verified stay: a later fetch keeps them)."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _download(url: str, target: Path, md5: str) -> None:
    """Stream ``url`` into a temporary file beside ``target``; rename it only if its MD5 is ``md5``."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
                while chunk := response.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
            raise DataError(
                f"downloading {url} failed ({_reason(exc)}); you can instead copy the files "
                f"{', '.join(base + '.gz' for base in IDX_FILES)} (or their uncompressed versions) "
                f"by hand into {target.parent}") from None
        actual = digest.hexdigest()
        if actual != md5:
            raise DataError(f"{url}: checksum mismatch: expected MD5 {md5}, got {actual}; "
                            f"the file was discarded, nothing was written to {target}")
        try:
            os.chmod(tmp, 0o644)  # mkstemp makes it private; a data cache is meant to be shared
            os.replace(tmp, target)
        except OSError as exc:
            raise DataError(f"{target}: cannot move the verified download into place: "
                            f"{exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _md5_file(path: Path) -> str | None:
    """MD5 of an existing file, or None if it cannot be read (then it is simply fetched again)."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc or type(exc).__name__)
