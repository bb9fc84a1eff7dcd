//! A bare TCP relay: every byte from a client to one upstream address and back, one task
//! per connection, `TCP_NODELAY` both ways. Nothing any gateway could do costs less, so a
//! run through it is the floor of a proxy's overhead on the machine it runs on (the
//! `relay` column of `mcp-bench compare`).

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Relays connections accepted on `listener` to `upstream` until `stop` is cancelled.
pub async fn serve(
    listener: TcpListener,
    upstream: SocketAddr,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        let (mut client, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = stop.cancelled() => return Ok(()),
        };
        let stop = stop.clone();
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return; // the client sees its connection closed
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                () = stop.cancelled() => {}
            }
        });
    }
}
