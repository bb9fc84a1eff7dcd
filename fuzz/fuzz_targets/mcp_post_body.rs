#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mcp_gateway::fuzzing::mcp_post_body(data);
});
