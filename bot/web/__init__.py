"""The aiohttp application: health, the local web chat, and the channel routes."""
