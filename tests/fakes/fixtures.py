"""Pytest fixtures for the fakes. Use them with
`from tests.fakes.fixtures import fake_telegram, fake_twilio  # noqa: F401`
(or list this module in a conftest's `pytest_plugins`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    """A running fake Bot API on 127.0.0.1 (random port); `base_url` for the settings."""
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    """A running fake Twilio REST API on 127.0.0.1 (random port)."""
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.close()
