"""The morning briefing: what happened since the last one, as Markdown and a phone-friendly HTML page."""
