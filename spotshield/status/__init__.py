"""How a stack is doing: status collection (collect.py) and its rendering (render.py), logs (logs.py).

The stack record is spotshield/backends/record.py. The status view imports nothing from the emulator
(spotshield/local/): it reads the Compute API and the bucket, on both backends."""
