"""What analysts read: report.html and summary.xlsx from a run folder, its interactive views and narrative."""
