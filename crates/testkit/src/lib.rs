//! Test fixtures for mcp-gateway. (Being written.)
