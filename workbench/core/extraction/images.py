"""Images: the words in them (OCR), their size and EXIF details as text, and a thumbnail.

Without CLIP-style models, an image is found by what is written in it (screenshots, scans,
slides, signs) and by its details: file name, size, date taken, camera and GPS position.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.config import Settings
from workbench.core.extraction.documents import Block, EngineStatus, Extraction, ExtractionError
from workbench.core.extraction.ocr import Ocr
from workbench.core.extraction.unpacking import UNPACKED_LIMIT, bomb, format_size
from workbench.paths import Paths

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".tif", ".tiff", ".webp", ".bmp"})
THUMBNAIL_PX = 256
DETAILS_HEADING = "Image details"
# EXIF tags (see the EXIF 2.3 standard): the main IFD, the Exif sub-IFD and the GPS sub-IFD.
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
MAKE, MODEL, DATETIME, DATETIME_ORIGINAL = 271, 272, 306, 36867
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 1, 2, 3, 4
PIXEL_BYTES = 4  # Pillow keeps RGB, RGBA and 32-bit pixels in 4 bytes; a copy costs as much
IMAGE_ADVICE = f"scale it down to {UNPACKED_LIMIT // PIXEL_BYTES / 1e6:.0f} megapixels to index it"


class ImageExtractor:
    """PNG, JPEG, GIF, TIFF (every page), WebP and BMP."""

    name = "image"
    kind = "image"
    suffixes = IMAGE_SUFFIXES
    filenames: frozenset[str] = frozenset()
    code_version = "1"

    def __init__(self) -> None:
        self.ocr = Ocr()
        self.max_pages = 100
        self.thumbnail_dir: Path | None = None

    def configure(self, settings: Settings, paths: Paths) -> None:
        self.ocr = Ocr(settings.ocr_language, settings.ocr_engine)
        self.max_pages = settings.ocr_max_pages
        self.thumbnail_dir = paths.cache_dir / "thumbnails"

    def engines(self) -> list[EngineStatus]:
        return self.ocr.statuses()

    @property
    def version(self) -> str:
        return f"{self.code_version}+{self.ocr.version_tag}"

    def extract(self, path: Path, data: bytes) -> Extraction:
        image = open_image(data)
        frames = _frame_count(image)
        metadata: dict[str, Any] = {
            "width": image.width,
            "height": image.height,
            "format": image.format or path.suffix[1:].upper(),
            **({"frames": frames} if frames > 1 else {}),
            **exif_details(image),
        }
        blocks = [Block(describe(path.name, metadata), heading=DETAILS_HEADING)]
        # An animated GIF or WebP repeats itself: read its first frame. A TIFF's are pages.
        pages = frames if image.format == "TIFF" else 1
        text_blocks, ocr_pages, capped = self._read_text(image, pages)
        blocks.extend(text_blocks)
        metadata["text_chars"] = sum(len(block.text) for block in text_blocks)
        if ocr_pages:
            metadata["ocr_pages"] = ocr_pages
        if capped:
            metadata["ocr_capped"] = capped
        if not self.ocr.available:
            metadata["missing"] = [self.ocr.status.name]
        if self.thumbnail_dir is not None:
            metadata["thumbnail"] = str(save_thumbnail(image, data, self.thumbnail_dir))
        return Extraction(self.kind, blocks, metadata)

    def _read_text(self, image: Any, pages: int) -> tuple[list[Block], list[int], list[int]]:
        if not self.ocr.available:
            return [], [], []
        from PIL import ImageOps

        read = list(range(1, min(pages, self.max_pages) + 1))
        capped = list(range(len(read) + 1, pages + 1))

        def frames() -> Iterator[tuple[int, Any]]:
            for number in read:
                image.seek(number - 1)
                # A phone photo taken sideways is turned upright; a copy, as seek moves on.
                yield number, ImageOps.exif_transpose(image).copy()

        blocks: list[Block] = []
        for _, frame_blocks in self.ocr.read_pages(frames()):
            if pages == 1:  # a single picture has no pages
                for block in frame_blocks:
                    block.page = None
            blocks.extend(frame_blocks)
        return blocks, read, capped


def open_image(data: bytes) -> Any:
    """A decoded PIL image; damaged, truncated or oversized files raise ExtractionError."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
            check_pixels(image.width, image.height)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own check in open() came first: "Image size (2500000000 pixels) exceeds..."
        said = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(said.group(1)) if said else (Image.MAX_IMAGE_PIXELS or 0)
        size = format_size(pixels * PIXEL_BYTES)
        raise ExtractionError(bomb(f"{size} of pixels", advice=IMAGE_ADVICE)) from None
    except UnidentifiedImageError as exc:
        raise ExtractionError("not a readable image: the format is unknown or damaged") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow's "image file is truncated"
        raise ExtractionError(f"damaged or truncated image: {exc}") from exc
    return image


def check_pixels(width: int, height: int) -> None:
    """Refuse an image whose pixels would take more than ``UNPACKED_LIMIT`` once decoded.

    Raises:
        ExtractionError: a pixel bomb (a small PNG can declare 50,000 x 50,000 pixels).
    """
    decoded = width * height * PIXEL_BYTES
    if decoded > UNPACKED_LIMIT:
        pixels = f"{format_size(decoded)} of pixels ({width:,} x {height:,})"
        raise ExtractionError(bomb(pixels, advice=IMAGE_ADVICE))


def _frame_count(image: Any) -> int:
    return int(getattr(image, "n_frames", 1) or 1)


def exif_details(image: Any) -> dict[str, Any]:
    """Date taken, camera and GPS position from EXIF, where present."""
    exif = image.getexif()
    if not exif:
        return {}
    details: dict[str, Any] = {}
    sub = exif.get_ifd(EXIF_IFD)
    taken = sub.get(DATETIME_ORIGINAL) or exif.get(DATETIME)
    if isinstance(taken, str) and len(taken) >= 19:
        details["taken"] = taken[:10].replace(":", "-") + " " + taken[11:19]
    camera = " ".join(
        str(exif.get(tag, "")).strip("\x00 ") for tag in (MAKE, MODEL) if exif.get(tag)
    )
    if camera:
        details["camera"] = camera
    position = _gps(exif.get_ifd(GPS_IFD))
    if position is not None:
        details["gps"] = position
    return details


def _gps(gps: dict[int, Any]) -> list[float] | None:
    try:
        lat = _degrees(gps[GPS_LAT]) * (-1 if gps.get(GPS_LAT_REF) == "S" else 1)
        lon = _degrees(gps[GPS_LON]) * (-1 if gps.get(GPS_LON_REF) == "W" else 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    return [round(lat, 6), round(lon, 6)]


def _degrees(value: Any) -> float:
    degrees, minutes, seconds = (float(part) for part in value)
    return degrees + minutes / 60 + seconds / 3600


def describe(name: str, metadata: dict[str, Any]) -> str:
    """The searchable sentence about an image's details."""
    parts = [f"{name}: {metadata['format']} image, {metadata['width']} x {metadata['height']} px"]
    if metadata.get("frames"):
        parts[0] += f", {metadata['frames']} frames"
    if "taken" in metadata:
        parts.append(f"taken {metadata['taken']}")
    if "camera" in metadata:
        parts.append(f"camera {metadata['camera']}")
    if "gps" in metadata:
        lat, lon = metadata["gps"]
        parts.append(f"GPS {lat:.5f}, {lon:.5f}")
    return ". ".join(parts) + "."


def save_thumbnail(image: Any, data: bytes, folder: Path) -> Path:
    """A small JPEG of the image in the cache, named by content hash (made once)."""
    from PIL import Image, ImageOps

    target = folder / f"{hashlib.sha256(data).hexdigest()[:32]}.jpg"
    if target.exists():
        return target
    image.seek(0)
    thumb = ImageOps.exif_transpose(image).copy()
    thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    if thumb.mode in ("RGBA", "LA", "PA", "P") or "transparency" in thumb.info:
        rgba = thumb.convert("RGBA")
        thumb = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    thumb.convert("RGB").save(partial, "JPEG", quality=80)
    partial.replace(target)  # a reader never sees half a thumbnail
    return target
