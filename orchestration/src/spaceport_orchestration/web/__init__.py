"""The local web front end: `spaceport view` (one run's page) and `spaceport serve` (jobs)."""
