"""Natural-language requests: time phrases, intent rules, optional model classification."""
