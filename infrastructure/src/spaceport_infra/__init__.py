"""Spaceport on AWS: the CDK app (`python -m spaceport_infra.app`)."""
