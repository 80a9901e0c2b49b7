"""Ingest: turn decoded device messages into stored rows and acks, in batches.

`core` is the synchronous part (one Session, a list of messages, one transaction); `writer` is
the asyncio front that gathers messages from the CoAP resources into those batches and answers
each one only after its batch is committed."""
