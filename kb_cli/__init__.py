"""`kb`, the command line: an HTTP client of the service (running, or in process) plus the eval commands."""
