"""The results page of a run: `build_site` writes `OUT/site/` from the stages\x27 outputs."""
