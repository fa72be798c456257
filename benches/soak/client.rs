//! The soak's HTTP client connections, HTTP/1.1 or HTTP/2 with prior knowledge, on hyper 1's
//! low-level `client::conn` API: the soak decides when a connection opens and closes, which
//! a pooled client would hide.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    H1,
    H2,
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

/// One client connection; dropping it closes the socket.
pub struct Conn {
    sender: Sender,
    task: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Conn {
    pub async fn connect(addr: SocketAddr, proto: Proto) -> Result<Conn, String> {
        let connect = async {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let io = TokioIo::new(stream);
            Ok(match proto {
                Proto::H1 => {
                    let (send, conn) = hyper::client::conn::http1::handshake(io)
                        .await
                        .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
                    Conn {
                        sender: Sender::H1(send),
                        task: drive(conn),
                    }
                }
                Proto::H2 => {
                    let (send, conn) =
                        hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                            .await
                            .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
                    Conn {
                        sender: Sender::H2(send),
                        task: drive(conn),
                    }
                }
            })
        };
        tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .map_err(|_| "connect + handshake timed out after 10 s".to_string())?
    }

    pub async fn send(
        &mut self,
        request: Request<Empty<Bytes>>,
    ) -> Result<Response<Incoming>, String> {
        // The two senders share no trait, so each arm spells the same two steps.
        let not_ready = |e: hyper::Error| format!("connection not ready: {e}");
        let sending = |e: hyper::Error| format!("sending: {e}");
        match &mut self.sender {
            Sender::H1(send) => {
                send.ready().await.map_err(not_ready)?;
                send.send_request(request).await.map_err(sending)
            }
            Sender::H2(send) => {
                send.ready().await.map_err(not_ready)?;
                send.send_request(request).await.map_err(sending)
            }
        }
    }
}

/// Runs a connection's I/O until it closes, or until the `Conn` that owns it is dropped.
fn drive(connection: impl Future + Send + 'static) -> JoinHandle<()> {
    tokio::spawn(async move {
        let _ = connection.await;
    })
}
