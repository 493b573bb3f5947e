"""Fakes at the network edge: local Bot API and Twilio REST servers (see fixtures.py)."""
