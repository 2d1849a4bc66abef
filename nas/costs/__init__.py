"""Cost tables (devices, parameters, FLOPs), their fitting, the device resolver and this machine's latency."""
