"""Files a run writes: the run folder, charts, the spreadsheet writer and its neutraliser."""
