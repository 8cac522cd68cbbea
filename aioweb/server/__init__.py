"""The one package that touches asyncio: transports, tasks, timers, signals."""
