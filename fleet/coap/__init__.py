"""The fleet's CoAP side (aiocoap): the ingest resources devices POST to, discovery, and the
client half that asks devices for health and sends them commands."""
