"""The `modelport` command line: parse, call modelport.api, render, pick the exit code. No logic."""
