"""Manufacturing records: one row per flashed board (chip id, device id, model, image), posted by
`gasguard flash` (boards/flash.py) with a maker's token. docs/manufacture.md, "Records"."""
