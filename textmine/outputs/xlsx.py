"""The one spreadsheet writer: every ``.xlsx`` a run writes (``summary.xlsx``, ``networks/networks.xlsx``).

No cell is ever a formula (:mod:`textmine.outputs.sanitize`: the full OWASP rule, full-width forms and leading
spaces included): text starting with ``=``, ``+``, ``-``, ``@``... gets a leading ``'``, the index
(a co-occurrence matrix's words) and the headers too, and every text cell is stored as text (openpyxl
would store a string starting with ``=`` as a formula); numbers stay numbers.  Column widths follow the
contents, Hangul counted twice as wide as Latin (Excel's width unit), and the header row (and an index
column) stay in view.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd
from openpyxl.utils import get_column_letter

from textmine.outputs.sanitize import neutralize_cell, neutralize_frame


@dataclass
class Sheet:
    """One worksheet: ``frame`` under ``name``; ``index``: the frame's index is written as the first column
    (a matrix's row names); ``fit``: size the columns to their first ``fit_rows`` values, between 8 and
    ``widest`` characters (not for an index sheet, whose columns are the index's words)."""
    name: str
    frame: pd.DataFrame
    index: bool = False
    fit: bool = True
    fit_rows: int = 500
    widest: int = 60


def text_width(text: str) -> int:
    """Width of ``text`` in Excel's unit: a Hangul syllable is about twice as wide as a Latin letter."""
    return sum(2 if "가" <= ch <= "힣" else 1 for ch in text)


def _safe(frame: pd.DataFrame, index: bool) -> pd.DataFrame:
    out = neutralize_frame(frame)
    if index:
        out = out.set_axis(pd.Index([neutralize_cell(v) for v in out.index], name=neutralize_cell(out.index.name)),
                           axis=0)
    return out


def write_workbook(path: str | Path, sheets: Sequence[Sheet]) -> Path:
    """``sheets`` into the workbook ``path`` (its folder made when missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for sheet in sheets:
            frame = _safe(sheet.frame, sheet.index)
            frame.to_excel(writer, sheet_name=sheet.name, index=sheet.index)
            ws = writer.sheets[sheet.name]
            for row in ws.iter_rows():
                for cell in row:
                    if isinstance(cell.value, str):
                        cell.value = neutralize_cell(cell.value)
                        cell.data_type = "s"
            ws.freeze_panes = "B2" if sheet.index else "A2"
            if sheet.fit and not sheet.index:
                for i, col in enumerate(frame.columns, start=1):
                    values = [str(col)] + [str(v) for v in frame[col].head(sheet.fit_rows).tolist()]
                    width = max(text_width(v) for v in values)
                    ws.column_dimensions[get_column_letter(i)].width = min(sheet.widest, max(8, width + 2))
    return path
