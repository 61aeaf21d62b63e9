"""A real mixed folder of a few hundred files, ingested and checked as a user would.

    uv run python bench/mixed_folder.py [--out /tmp/wb-mixed] [--scale 1.0]

Builds the folder from real material: PDF reports with a text layer and image-only (scanned)
PDFs made from SciFact abstracts, PNG screenshots of abstracts (some in dark mode), JPEG
photos with EXIF and no words, spoken memos (espeak-ng, when installed), Word and Excel
files, the repository's own code and markdown, and a few damaged files. Then runs the
installed `workbench` command: `add`, `ingest` (timed), `doctor`, a second unchanged
`ingest` (timed); then searches each scan and screenshot by its title to check OCR read it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from _common import scifact_docs
from PIL import Image, ImageDraw, ImageFilter, ImageFont

REPO = Path(__file__).resolve().parents[1]
PAGE = (1240, 1754)  # A4 at 150 dpi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("/tmp/wb-mixed"))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the file counts")
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    folder = args.out / "library"
    made = build(folder, args.scale)
    summary = run_as_user(folder, args.out / "home", made)
    print(json.dumps(summary, indent=2))


def count(base: int, scale: float) -> int:
    return max(1, round(base * scale))


def build(folder: Path, scale: float) -> dict[str, Any]:
    """Write the folder; returns what each probe query should find."""
    rng = random.Random(2024)
    docs = scifact_docs(count(700, scale))
    rng.shuffle(docs)
    take = iter(docs)
    probes: dict[str, str] = {}
    reports = folder / "reports"
    for number in range(count(100, scale)):
        pages = [next(take) for _ in range(rng.randint(1, 4))]
        text_pdf(reports / f"report-{number:03d}.pdf", pages)
    scans = folder / "scans"
    for number in range(count(40, scale)):
        pages = [next(take) for _ in range(rng.randint(1, 2))]
        path = scanned_pdf(scans / f"scan-{number:03d}.pdf", pages, rng)
        probes[pages[-1]["title"]] = str(path)
    shots = folder / "screenshots"
    for number in range(count(40, scale)):
        doc = next(take)
        path = screenshot(shots / f"Screenshot {number:03d}.png", doc, dark=number % 4 == 0)
        probes[doc["title"]] = str(path)
    photos = folder / "photos"
    for number in range(count(10, scale)):
        photo(photos / f"IMG_{4000 + number}.jpg", rng)
    memos = folder / "memos"
    for number in range(count(5, scale)):
        speak(memos / f"memo-{number}.wav", next(take))
    office(folder / "office", [next(take) for _ in range(6)])
    copy_repo(folder / "workbench-src")
    damaged(folder / "damaged", reports)
    files = [p for p in folder.rglob("*") if p.is_file()]
    return {"files": len(files), "probes": probes}


def text_pdf(path: Path, docs: list[dict[str, str]]) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    path.parent.mkdir(parents=True, exist_ok=True)
    document = canvas.Canvas(str(path), pagesize=A4)
    document.setTitle(docs[0]["title"])
    for doc in docs:
        y = 780
        document.setFont("Helvetica-Bold", 12)
        for line in textwrap.wrap(doc["title"], 85):
            document.drawString(60, y, line)
            y -= 16
        document.setFont("Helvetica", 10)
        for line in textwrap.wrap(doc["text"], 100):
            y -= 13
            if y < 60:
                document.showPage()
                document.setFont("Helvetica", 10)
                y = 780
            document.drawString(60, y, line)
        document.showPage()
    document.save()
    return path


def page_image(doc: dict[str, str], rng: random.Random) -> Image.Image:
    """A page as a scanner would see it: slightly rotated, a little noisy, soft edges."""
    image = Image.new("L", PAGE, 255)
    draw = ImageDraw.Draw(image)
    title_font, body_font = ImageFont.load_default(size=30), ImageFont.load_default(size=24)
    y = 120
    for line in textwrap.wrap(doc["title"], 60):
        draw.text((110, y), line, fill=0, font=title_font)
        y += 44
    y += 20
    for line in textwrap.wrap(doc["text"], 82):
        if y > PAGE[1] - 120:
            break
        draw.text((110, y), line, fill=20, font=body_font)
        y += 34
    image = image.rotate(rng.uniform(-0.8, 0.8), fillcolor=255, resample=Image.Resampling.BICUBIC)
    noise = Image.effect_noise(PAGE, 18)
    image = Image.blend(image, noise, 0.08).filter(ImageFilter.GaussianBlur(0.6))
    return image.convert("RGB")


def scanned_pdf(path: Path, docs: list[dict[str, str]], rng: random.Random) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pages = [page_image(doc, rng) for doc in docs]
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=150)
    return path


def screenshot(path: Path, doc: dict[str, str], dark: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = textwrap.wrap(doc["title"], 70) + [""] + textwrap.wrap(doc["text"][:600], 90)
    background, ink = ((30, 30, 36), (230, 230, 230)) if dark else ((255, 255, 255), (20, 20, 20))
    image = Image.new("RGB", (1280, 80 + 32 * len(lines)), background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=20)
    for number, line in enumerate(lines):
        draw.text((40, 40 + 32 * number), line, fill=ink, font=font)
    image.save(path)
    return path


def photo(path: Path, rng: random.Random) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (1600, 1200), tuple(rng.randint(40, 200) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randint(0, 1500), rng.randint(0, 1100)
        size = rng.randint(40, 300)
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        draw.ellipse((x, y, x + size, y + size), fill=colour)
    exif = Image.Exif()
    exif[271], exif[272] = "FUJIFILM", "X-T30"
    exif.get_ifd(0x8769)[36867] = f"2024:0{rng.randint(1, 9)}:1{rng.randint(0, 9)} 10:00:00"
    image.filter(ImageFilter.GaussianBlur(2)).save(path, "JPEG", exif=exif, quality=85)


def speak(path: Path, doc: dict[str, str]) -> None:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    sentence = " ".join(doc["text"].split(". ")[:2])
    subprocess.run([espeak, "-s", "160", "-w", str(path), sentence], check=True)


def office(folder: Path, docs: list[dict[str, str]]) -> None:
    import docx
    import openpyxl

    folder.mkdir(parents=True, exist_ok=True)
    for number, doc in enumerate(docs[:4]):
        document = docx.Document()
        document.add_heading(doc["title"], 1)
        document.add_paragraph(doc["text"])
        document.save(str(folder / f"notes-{number}.docx"))
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["id", "title"])
    for doc in docs:
        sheet.append([doc["_id"], doc["title"]])
    workbook.save(str(folder / "reading-list.xlsx"))


def copy_repo(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "workbench", "tests", "bench", "*.md", "pyproject.toml"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for name in listed:
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / name)


def damaged(folder: Path, reports: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    sample = sorted(reports.glob("*.pdf"))[0].read_bytes()
    (folder / "download-interrupted.pdf").write_bytes(sample[: len(sample) // 3])
    (folder / "not-really.pdf").write_bytes(b"<html>404 Not Found</html>")
    picture = next((folder.parent / "screenshots").glob("*.png")).read_bytes()
    (folder / "half-copied.png").write_bytes(picture[: len(picture) // 2])
    (folder / "silence.mp3").write_bytes(b"ID3\x03\x00" + bytes(200))
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(sorted(reports.glob("*.pdf"))[1]))
    writer.encrypt(user_password="s3cret", algorithm="AES-128")
    with (folder / "payslip-locked.pdf").open("wb") as handle:
        writer.write(handle)


def run_as_user(folder: Path, home: Path, made: dict[str, Any]) -> dict[str, Any]:
    exe = Path(sys.executable).parent / "workbench"
    env = dict(os.environ, WORKBENCH_HOME=str(home))

    def workbench(*args: str) -> str:
        done = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"workbench {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    workbench("add", str(folder))
    started = time.perf_counter()
    first = json.loads(workbench("ingest", "--json"))
    first_seconds = time.perf_counter() - started
    doctor = json.loads(workbench("doctor", "--json"))
    print(workbench("doctor"), file=sys.stderr)
    started = time.perf_counter()
    second = json.loads(workbench("ingest", "--json"))
    second_seconds = time.perf_counter() - started
    found = probe(home, made["probes"])
    files = doctor["files"]
    return {
        "files_written": made["files"],
        "files_in_index": files,
        "accounted_for": files["indexed"] + files["failed"] + files["skipped"] == made["files"],
        "first_ingest_s": round(first_seconds, 1),
        "first_ingest": first["files"] | {"chunks_embedded": first["chunks"]["embedded"]},
        "unchanged_ingest_s": round(second_seconds, 2),
        "unchanged_ingest": second["files"],
        "ocr": {k: v for k, v in doctor["ocr"].items() if k != "documents"},
        "no_text": len(doctor["no_text"]),
        "by_kind": doctor["by_kind"],
        "failed": [(Path(r["path"]).name, r["reason"]) for r in doctor["failed"]],
        "skipped": [(Path(r["path"]).name, r["reason"]) for r in doctor["skipped"]],
        "ocr_title_probes": f"{found}/{len(made['probes'])} found at rank 1",
    }


def probe(home: Path, probes: dict[str, str]) -> int:
    """How many scans and screenshots come first when searched by their title (in-process:
    one embedder load instead of one per query)."""
    from _common import fresh_workbench

    workbench = fresh_workbench(home)
    found = 0
    for title, path in probes.items():
        hits = workbench.search(title, k=1)
        found += bool(hits) and hits[0].path == path
    return found


if __name__ == "__main__":
    main()
