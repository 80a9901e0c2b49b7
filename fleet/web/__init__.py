"""The operator's dashboard: server-rendered pages (Jinja2), Chinese by default, English with
`?lang=en`. No JavaScript framework and no CDN: charts are inline SVG drawn on the server."""
