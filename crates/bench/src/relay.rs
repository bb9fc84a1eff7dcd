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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn bytes_go_both_ways_until_stopped() {
        // The upstream: answers each read with the same bytes upper-cased.
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = upstream.accept().await.unwrap();
            let mut buf = [0u8; 64];
            while let Ok(n @ 1..) = socket.read(&mut buf).await {
                let answer = buf[..n].to_ascii_uppercase();
                if socket.write_all(&answer).await.is_err() {
                    return;
                }
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay_addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let relay = tokio::spawn(serve(listener, upstream_addr, stop.clone()));

        let mut client = TcpStream::connect(relay_addr).await.unwrap();
        for word in ["ping", "again"] {
            client.write_all(word.as_bytes()).await.unwrap();
            let mut answer = vec![0u8; word.len()];
            tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut answer))
                .await
                .expect("an answer through the relay")
                .unwrap();
            assert_eq!(answer, word.to_ascii_uppercase().as_bytes());
        }

        stop.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(5), relay).await;
        assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest)).await;
        assert!(
            matches!(closed, Ok(Ok(0))),
            "the relayed connection is closed: {closed:?}"
        );
    }
}
