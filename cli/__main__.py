"""`python -m modelport.cli` runs the same command as the `modelport` console script."""

from modelport.cli.main import main

main()
