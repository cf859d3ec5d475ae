"""The HTTP surface every request crosses around a resource's route.

Bounds on heads, bodies and connections (protocol, bodylimit, before_body,
json_shape), compression, logs and request ids, the OpenAPI document and the
pages, the lazy router registry, metrics and telemetry. A resource author
does not need to touch any of it.
"""
