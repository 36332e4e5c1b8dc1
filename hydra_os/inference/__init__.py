"""Inference: endpoints, the router and gateway, model engines and the model manager."""
