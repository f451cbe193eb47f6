"""Report analyzers: one module each, run by the aggregator over the other analyzers' sections
(``tiktok_analyzer.shared.runtime.report_analyzers``); modules starting with ``_`` are helpers."""
