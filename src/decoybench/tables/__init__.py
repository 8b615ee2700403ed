"""Tables: `paper` is the shared plumbing of every paper's tables (rate columns, captioned
Markdown, atomic CSV and Markdown writes); `summary` the cross-paper attack-success table."""
