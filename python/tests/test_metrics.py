"""``GET /metrics`` read with the reference parser of the Prometheus exposition format
(``prometheus_client``), after known calls through REST and the official MCP SDK."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mcp_gateway import AsyncMCPGateway, MCPGateway, errors

from .conftest import MASTER_KEY


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_calls_are_counted_by_server_tool_and_outcome(gateway: MCPGateway) -> None:
    echo = {"server": "everything", "tool": "echo", "outcome": "ok"}
    before = _value(_samples(gateway.metrics()), "mcp_gateway_tool_calls_total", **echo)

    for _ in range(3):
        gateway.call_tool("everything__echo", {"message": "counted"})

    async def through_the_sdk() -> None:
        async with gateway.mcp_client() as client:
            await client.call_tool("everything__echo", {"message": "counted"})

    asyncio.run(through_the_sdk())

    samples = _samples(gateway.metrics())
    assert _value(samples, "mcp_gateway_tool_calls_total", **echo) == before + 4
    timed = {"server": "everything", "tool": "echo"}
    assert _value(samples, "mcp_gateway_tool_call_duration_seconds_count", **timed) >= before + 4
    assert _value(samples, "mcp_gateway_tool_calls_in_flight", **timed) == 0
    assert _value(samples, "mcp_gateway_upstream_up", server="everything") == 1
    assert _value(samples, "process_resident_memory_bytes") > 0


def test_a_key_other_than_the_master_key_cannot_scrape(gateway: MCPGateway) -> None:
    key = gateway.create_key("no-scraper")["key"]
    with MCPGateway(gateway.url, key) as limited, pytest.raises(errors.Forbidden):
        limited.metrics()


def test_the_async_client_scrapes_too(gateway: MCPGateway) -> None:
    async def scrape() -> str:
        async with AsyncMCPGateway(gateway.url, MASTER_KEY) as agw:
            return await agw.metrics()

    assert "mcp_gateway_upstream_up" in asyncio.run(scrape())


def test_approving_a_tool_that_is_not_held_is_not_found(gateway: MCPGateway) -> None:
    with pytest.raises(errors.NotFound) as raised:
        gateway.approve_tool("everything", "echo")
    assert raised.value.code == "tool_not_held"
