//! Serving an axum `Router` the way the examples do: HTTP/1.1 and HTTP/2 (h2c) on one port,
//! and on SIGINT or SIGTERM no new connections while the streams already running get a grace
//! period.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

/// How long streams may run on after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `app` until `shutdown` resolves, then for at most [`SHUTDOWN_GRACE`] more.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stopping = Arc::new(tokio::sync::Notify::new());
    let server = axum::serve(listener, app).with_graceful_shutdown({
        let stopping = stopping.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections, streams get {SHUTDOWN_GRACE:?}");
            stopping.notify_one();
        }
    });
    tokio::select! {
        result = server => {
            tracing::info!("all connections closed");
            result
        }
        () = async {
            stopping.notified().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::info!("grace period over, closing");
            Ok(())
        }
    }
}
