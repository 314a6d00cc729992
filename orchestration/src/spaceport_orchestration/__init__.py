"""Spaceport orchestration: the Step Functions pipeline, the local runner and `spaceport`."""
