"""ComfyUI: workflow templates with declared slots, an async client for its HTTP + WebSocket API, and
batches shared by several servers."""
