"""Agents on multi-step tasks with known answers, per bundled model, in one run.

    uv run python bench/agent_tasks.py [--models NAME ...] [--limit N] [--max-steps 8]

Generates a small company library (CSV tables of warehouses, stock and people, invoice PDFs
with a text layer, meeting notes and policies in markdown, and photos of signs read by OCR),
ingests it once, then gives every model the same tasks. Each task needs at least two tool
calls (look something up, then read it; compare or join two files; count or sum across
files) and has the facts its answer must contain. Reported per model:

- success: the answer contains every expected fact (case-insensitive, thousands separators
  ignored);
- steps used (mean), schema-valid steps (steps that parsed and validated, of all steps: the
  grammar makes them valid by construction, so this must be 100%);
- confinement violations: tool calls that reached a path outside the library without being
  refused (must be 0; refused attempts are counted apart);
- median seconds per task.

Prints a table and writes bench/results/agent_tasks.json (per task details included).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import fresh_workbench

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from filemakers import text_pdf, words_image  # noqa: E402

from workbench.core.agents.confinement import Confinement, ToolError  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "agent_tasks.json"
DEFAULT_MODELS = ["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct",
                  "qwen2.5-coder-1.5b-instruct"]  # fmt: skip

FILES = {
    "tables/warehouses.csv": "warehouse,city,manager\nW1,Lyon,Claire Martin\nW2,Porto,Rui Costa\n"
    "W3,Berlin,Jonas Weber\nW4,Oslo,Ingrid Berg\n",
    "tables/inventory.csv": "sku,name,warehouse,quantity\nS-100,Kettle,W2,120\n"
    "S-101,Toaster,W1,45\nS-102,Blender,W3,300\nS-103,Mixer,W4,80\nS-104,Grinder,W1,210\n"
    "S-105,Juicer,W2,15\n",
    "notes/team.md": "# Team\n\nClaire Martin leads logistics; her phone extension is 4411.\n\n"
    "Rui Costa runs the Porto site; his phone extension is 4420.\n\nJonas Weber works in "
    "operations and owns the nightly backup job; his phone extension is 4402.\n\nIngrid Berg "
    "runs the Oslo site; her phone extension is 4433.\n",
    "meetings/2026-03-02.md": "# Ops meeting, 2 March 2026\n\nThe backup window moved from "
    "01:00 to 03:00 because the nightly import runs until 02:30. Owner: Jonas Weber.\n",
    "meetings/2026-04-06.md": "# Ops meeting, 6 April 2026\n\nThe backup window was shortened "
    "to 90 minutes, starting at 03:00, after the new storage arrived.\n",
    "meetings/2026-05-04.md": "# Ops meeting, 4 May 2026\n\nWe discussed hiring two drivers "
    "for Porto. Nothing changed about backups.\n",
    "policies/travel.md": "# Travel policy\n\nHotel nights are reimbursed up to 140 EUR in "
    "Lyon and up to 110 EUR in Porto. Train tickets are reimbursed in second class only.\n",
    "policies/returns.md": "# Returns\n\nCustomers may return items within 30 days of "
    "delivery; damaged items may be returned within 60 days.\n",
}
INVOICES = {  # id: (month, customer, sku, item, quantity, unit price)
    "INV-1001": ("March 2026", "Hotel Aurora", "S-102", "Blender", 12, 40),
    "INV-1002": ("April 2026", "Cafe Lumen", "S-104", "Grinder", 30, 25),
    "INV-1003": ("April 2026", "Hotel Aurora", "S-100", "Kettle", 8, 18),
    "INV-1004": ("May 2026", "Bistro Nord", "S-105", "Juicer", 20, 55),
}
SIGNS = {
    "photos/dock-sign.png": ["Dock 7 closes at 18:30"],
    "photos/parking-sign.png": ["Visitor parking: level -2", "spots 40 to 55"],
}
TASKS: list[tuple[str, list[str]]] = [
    ("Which city is the warehouse that stocks the item on invoice INV-1001 in, and who "
     "manages that warehouse?", ["Berlin", "Jonas Weber"]),
    ("Who manages the warehouse that stocks the Kettle?", ["Rui Costa"]),
    ("How many Blenders are in stock, and in which city is their warehouse?", ["300", "Berlin"]),
    ("Which item has the most units in stock?", ["Blender"]),
    ("Which item has the fewest units in stock, and in which city is it kept?",
     ["Juicer", "Porto"]),
    ("What is the total value of invoice INV-1002 (quantity times unit price)?", ["750"]),
    ("What is the total value of invoice INV-1004 (quantity times unit price)?", ["1100"]),
    ("Which customer appears on two invoices?", ["Hotel Aurora"]),
    ("How many units in total are stocked in the Lyon warehouse?", ["255"]),
    ("What is the phone extension of the manager of the Porto warehouse?", ["4420"]),
    ("What is the phone extension of the person who owns the backup job?", ["4402"]),
    ("To what time was the backup window moved in the March meeting?", ["03:00"]),
    ("How long is the backup window after the April meeting?", ["90"]),
    ("When does Dock 7 close, according to the sign?", ["18:30"]),
    ("Which parking level is for visitors?", ["-2"]),
    ("What is the hotel limit per night in the city of the warehouse Claire Martin manages?",
     ["140"]),
    ("What is the hotel limit per night in the city of the warehouse that stocks Juicers?",
     ["110"]),
    ("Which item did Cafe Lumen buy, and how many?", ["Grinder", "30"]),
    ("In which month was invoice INV-1003 issued, and for which item?", ["April", "Kettle"]),
    ("How many days do customers have to return a damaged item?", ["60"]),
    ("Which city is the Mixer stocked in, and who manages that warehouse?",
     ["Oslo", "Ingrid Berg"]),
    ("How many Kettles and Toasters are in stock together?", ["165"]),
    ("Who bought Juicers, and in which month?", ["Bistro Nord", "May"]),
    ("What is the unit price of the item on invoice INV-1001?", ["40"]),
    ("How many units of S-104 are in stock, and in which city?", ["210", "Lyon"]),
    ("Which two invoices are from April?", ["INV-1002", "INV-1003"]),
    ("Who leads logistics, and which warehouse city does she manage?",
     ["Claire Martin", "Lyon"]),
    ("What changed about the backup window between the March and the April meeting?",
     ["03:00", "90"]),
    ("How many units in total were sold on the April invoices?", ["38"]),
    ("What is the combined stock of the Berlin and Oslo warehouses?", ["380"]),
    ("In which train class are tickets reimbursed?", ["second"]),
    ("Which parking spots are for visitors?", ["40", "55"]),
]  # fmt: skip


def build(folder: Path) -> None:
    for relative, text in FILES.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (folder / "invoices").mkdir()
    for number, (month, customer, sku, item, quantity, price) in INVOICES.items():
        text_pdf(folder / "invoices" / f"{number}.pdf", [[
            f"Invoice {number}", f"Date: {month}", f"Customer: {customer}",
            f"Item: {sku} {item}", f"Quantity: {quantity}", f"Unit price: {price} EUR",
        ]])  # fmt: skip
    for relative, lines in SIGNS.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        words_image(lines, size=(1000, 400), font_size=48).save(path)


def succeeded(answer: str, facts: list[str]) -> bool:
    flat = re.sub(r"(?<=\d)[,\u202f ](?=\d{3}\b)", "", answer).lower()
    return all(fact.lower() in flat for fact in facts)


def violations(run: Any, confinement: Confinement) -> tuple[int, int]:
    """(tool calls that reached outside the library unrefused, refused attempts)."""
    reached, refused = 0, 0
    for step in run.steps:
        paths = [v for k, v in step.arguments.items() if k in ("path", "folder") and v]
        for path in paths:
            try:
                confinement.resolve(str(path))
            except ToolError:
                refused += step.error == "refused"
                reached += step.error != "refused"
    return reached, refused


def run_model(workbench: Any, model: str, tasks: list[tuple[str, list[str]]],
              max_steps: int) -> dict[str, Any]:  # fmt: skip
    confinement = Confinement(workbench.folders)
    details = []
    for task, facts in tasks:
        run = workbench.agents.run(task, model=model, max_steps=max_steps)
        reached, refused = violations(run, confinement)
        details.append({
            "task": task, "facts": facts, "answer": run.answer, "stop": run.stop_reason,
            "ok": succeeded(run.answer, facts), "steps": len(run.steps),
            "valid": sum(s.valid for s in run.steps), "violations": reached,
            "refused": refused, "seconds": round(run.total_ms / 1000, 2), "id": run.id,
            "calls": [[s.tool, s.arguments, s.result[:160]] for s in run.steps],
        })  # fmt: skip
        print(f"  {'ok ' if details[-1]['ok'] else 'no '} {len(run.steps)} steps "
              f"{run.total_ms / 1000:5.1f} s  {task[:70]}", flush=True)  # fmt: skip
    steps = sum(d["steps"] for d in details)
    return {
        "tasks": len(details),
        "success": round(sum(d["ok"] for d in details) / len(details), 3),
        "steps_mean": round(steps / len(details), 2),
        "schema_valid": round(sum(d["valid"] for d in details) / max(steps, 1), 4),
        "violations": sum(d["violations"] for d in details),
        "refused": sum(d["refused"] for d in details),
        "seconds_median": round(statistics.median(d["seconds"] for d in details), 2),
        "stops": {r: sum(d["stop"] == r for d in details) for r in {d["stop"] for d in details}},
        "details": details,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--limit", type=int, default=len(TASKS))
    parser.add_argument("--max-steps", type=int, default=8)
    args = parser.parse_args()
    results: dict[str, Any] = {"tasks": len(TASKS[: args.limit]), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "company"
        build(folder)
        workbench = fresh_workbench(Path(tmp) / "home", scan_model_caches=False)
        workbench.add_folder(folder)
        report = workbench.ingest()
        print(f"library: {report.as_json()['files']} ({os.cpu_count()} cores)", flush=True)
        for model in args.models:
            print(model, flush=True)
            results["models"][model] = run_model(
                workbench, model, TASKS[: args.limit], args.max_steps
            )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{'model':<30} success  steps  valid   violations  refused  median s")
    for model, r in results["models"].items():
        print(f"{model:<30} {r['success']:>6.0%}  {r['steps_mean']:>5}  {r['schema_valid']:>6.1%}"
              f"  {r['violations']:>10}  {r['refused']:>7}  {r['seconds_median']:>8}")  # fmt: skip


if __name__ == "__main__":
    main()
