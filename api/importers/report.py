"""What an import did: the summary it prints and the CSV report of rows it refused or changed.

Reasons are fixed phrases ("no coordinates", "latitude out of range") and never quote a row's
values: the report and the summary can be shared without leaking what the source file holds.
"""

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPORT_COLUMNS = ("row", "source_id", "outcome", "reason", "detail")


# What a spreadsheet reads as the start of a formula (OWASP's "CSV injection", CWE-1236).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_text_cell(value: object) -> object:
    """A cell of a report as a spreadsheet shows it, never runs it: a source's id (a feed's
    own, anyone's) that starts like a formula gets a quote first."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


def default_report_path(kind: str, source: str) -> Path:
    """``.local/reports/`` (gitignored) under the working directory, one file per run."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path.cwd() / ".local" / "reports" / f"import-{kind}-{source}-{stamp}.csv"


@dataclass(frozen=True)
class ReportLine:
    """One refused or noteworthy row. ``row`` is the spreadsheet row number of a CSV (the
    header is row 1) or the 1-based feature number of a GeoJSON file."""

    row: int
    source_id: str | None
    reason: str
    detail: str = ""
    outcome: str = "rejected"


@dataclass
class ImportReport:
    """Counts of one import run, and the lines of its CSV report."""

    kind: str
    source: str
    file: str
    rows_read: int = 0
    rows_selected: int = 0
    created: int = 0
    updated: int = 0  # already there, and changed in the source since: updated in place
    already_present: int = 0
    created_rows: Counter[str] = field(default_factory=Counter)
    lines: list[ReportLine] = field(default_factory=list)
    seconds: float = 0.0
    report_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def reject(self, row: int, source_id: str | None, reason: str, detail: str = "") -> None:
        self.lines.append(ReportLine(row, source_id, reason, detail))

    def note(self, row: int, source_id: str | None, reason: str, detail: str = "") -> None:
        """A row imported with a caveat (a repaired geometry, a type with no mapped need)."""
        self.lines.append(ReportLine(row, source_id, reason, detail, outcome="imported"))

    @property
    def rejected(self) -> int:
        return sum(1 for line in self.lines if line.outcome == "rejected")

    def reasons(self, outcome: str) -> dict[str, int]:
        counts = Counter(line.reason for line in self.lines if line.outcome == outcome)
        return dict(counts.most_common())

    def _write_lines(self, handle: Any) -> None:
        writer = csv.writer(handle)
        writer.writerow(REPORT_COLUMNS)
        for line in self.lines:
            cells = (line.row, line.source_id or "", line.outcome, line.reason, line.detail)
            writer.writerow(as_text_cell(cell) for cell in cells)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as handle:
            self._write_lines(handle)
        self.report_path = path
        return path

    def csv_text(self) -> str:
        """The CSV report as text (what the operator downloads from the import's job)."""
        buffer = io.StringIO()
        self._write_lines(buffer)
        return buffer.getvalue()

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "file": self.file,
            "rows_read": self.rows_read,
            "rows_selected": self.rows_selected,
            "created": self.created,
            "updated": self.updated,
            "already_present": self.already_present,
            "rejected": self.rejected,
            "rejected_by_reason": self.reasons("rejected"),
            "imported_with_notes": self.reasons("imported"),
            "created_rows": dict(sorted(self.created_rows.items())),
            **self.extra,
            "seconds": round(self.seconds, 2),
            "report": str(self.report_path) if self.report_path else None,
        }
