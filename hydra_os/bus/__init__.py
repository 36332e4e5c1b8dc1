"""The NATS bus: names, the embedded server and the client connection."""
