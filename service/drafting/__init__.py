"""Drafting: recommendation drafts planned, written section by section with cited generation, verified
statement by statement, reviewed, exported (Markdown, DOCX with Word footnotes) and reproducible."""
