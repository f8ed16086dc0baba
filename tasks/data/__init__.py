"""Data: the training conversations and their contract.

Verbs: `make data` (generate, validate, measure tokens), `make validate-data DATA=path`, and the
data-link stamp that `train`, `bench` and the setups depend on.

- `generate`: the deterministic generator (scenarios, personas, weather), writes data/synthetic/
- `gazetteer`, `weather`, `personas`: the places (with shared names, native names, misspellings), the
  Open-Meteo-shaped weather (climate normals for high cities) and the four voices
- `snips`: real people's questions (data/real/, CC0), a fixed fifth held out for evaluation
- `phrasing`: how users ask: SNIPS phrasing turned into templates, casual phrasing, days, places
- `quality`: what the data teaches, measured from the data (answers that address their question,
  phrase variety, geocode arguments against the user's words, validation overlap)
- `validate`: streaming validator of any JSONL against the data contract (DESIGN.md section 3)
- `links`: data/processed/{train,val}.jsonl pointing at the final files
- `freshness`: is the tracked data stale? by the digest of its inputs in merge_metadata.json (stdlib only)
"""
