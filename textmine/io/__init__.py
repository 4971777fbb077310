"""Corpus ingestion: files in (csv/tsv/xlsx/xls/jsonl/json/parquet/txt/hwpx/hwp), one normalised table of
opinions out."""
